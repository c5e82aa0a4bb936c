namespace SemCache.Storage;

/// <summary>The data directory is damaged beyond what recovery can repair; the message names every problem found.</summary>
public sealed class EntryStoreCorruptedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public EntryStoreCorruptedException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is damaged.</param>
    public EntryStoreCorruptedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the failure that revealed the damage.</summary>
    /// <param name="message">What is damaged.</param>
    /// <param name="innerException">The underlying failure.</param>
    public EntryStoreCorruptedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The data directory was written in a format this build does not read.</summary>
public sealed class EntryStoreVersionException : Exception
{
    /// <summary>Creates the exception.</summary>
    public EntryStoreVersionException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">Which versions differ.</param>
    public EntryStoreVersionException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">Which versions differ.</param>
    /// <param name="innerException">The underlying failure.</param>
    public EntryStoreVersionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>An entry serializes to more than <see cref="EntryStoreOptions.MaxEntryBytes"/>; nothing of the call was written.</summary>
public sealed class EntryTooLargeException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public EntryTooLargeException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is too large.</param>
    public EntryTooLargeException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">What is too large.</param>
    /// <param name="innerException">The underlying failure.</param>
    public EntryTooLargeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for the entry at <paramref name="index"/> of a batch (0 for a single Set).</summary>
    /// <param name="index">Position of the entry in the batch.</param>
    /// <param name="bytes">Its serialized size.</param>
    /// <param name="limit">The limit it exceeds.</param>
    public EntryTooLargeException(int index, int bytes, int limit)
        : base($"Entry {index} serializes to {bytes} bytes, more than MaxEntryBytes ({limit}); nothing was written.", "entry")
    {
        Index = index;
        Bytes = bytes;
        Limit = limit;
    }

    /// <summary>Position of the entry in the batch (0 for <see cref="EntryStore.SetAsync"/>).</summary>
    public int Index { get; }

    /// <summary>Serialized size of the entry.</summary>
    public int Bytes { get; }

    /// <summary>The <see cref="EntryStoreOptions.MaxEntryBytes"/> it exceeds.</summary>
    public int Limit { get; }
}

/// <summary>
/// A write could not be made durable (the disk is full or failing); the store refuses writes until a retried commit
/// succeeds (see <see cref="EntryStore.Health"/>). Reads keep working.
/// </summary>
public sealed class StoreUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StoreUnavailableException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">Why the store cannot write.</param>
    public StoreUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">Why the store cannot write.</param>
    /// <param name="innerException">The underlying failure.</param>
    public StoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a message and whether the cause is a full disk.</summary>
    /// <param name="message">Why the store cannot write, naming the data directory and the OS reason.</param>
    /// <param name="diskFull">True when the device reported no space left.</param>
    public StoreUnavailableException(string message, bool diskFull)
        : base(message)
    {
        DiskFull = diskFull;
    }

    /// <summary>True when the device reported that no space is left.</summary>
    public bool DiskFull { get; }
}
