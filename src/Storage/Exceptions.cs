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
