namespace SemCache.Cache;

/// <summary>What kind of client error a rejected request is (the server maps each to a gRPC status).</summary>
public enum CacheErrorKind
{
    /// <summary>The request is malformed (INVALID_ARGUMENT).</summary>
    InvalidArgument,

    /// <summary>A size limit was exceeded (RESOURCE_EXHAUSTED).</summary>
    ResourceExhausted,

    /// <summary>The request conflicts with the cache's state, e.g. a vector of the wrong dimension (FAILED_PRECONDITION).</summary>
    FailedPrecondition,

    /// <summary>The cache cannot take the request now (e.g. its disk is full); retrying later may succeed (UNAVAILABLE).</summary>
    Unavailable,
}

/// <summary>A request the engine rejects before changing anything: names the field and the rule or limit.</summary>
public sealed class CacheRequestException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CacheRequestException(CacheErrorKind kind, string field, string message)
        : base($"{field}: {message}")
    {
        Kind = kind;
        Field = field;
        Reason = message;
    }

    /// <summary>Creates an exception without a field (required by the exception pattern).</summary>
    public CacheRequestException()
        : this(CacheErrorKind.InvalidArgument, "request", "invalid request")
    {
    }

    /// <summary>Creates an exception with a message (required by the exception pattern).</summary>
    public CacheRequestException(string message)
        : this(CacheErrorKind.InvalidArgument, "request", message)
    {
    }

    /// <summary>Creates an exception with a message and a cause (required by the exception pattern).</summary>
    public CacheRequestException(string message, Exception innerException)
        : base(message, innerException)
    {
        Kind = CacheErrorKind.InvalidArgument;
        Field = "request";
        Reason = message;
    }

    /// <summary>The kind of error.</summary>
    public CacheErrorKind Kind { get; }

    /// <summary>The request field at fault, as named in the contract (e.g. <c>messages[2].role</c>).</summary>
    public string Field { get; }

    /// <summary>What is wrong with it, including the limit where one applies.</summary>
    public string Reason { get; }
}
