namespace Sdtt.Serving;

/// <summary>A request the engine refuses before any work: the message names the setting at fault
/// (<see cref="Param"/>, OpenAI's field name).</summary>
public sealed class CompletionRequestException(string message, string? param) : SdttException(message)
{
    /// <summary>The OpenAI request field at fault (e.g. "max_tokens"), or null.</summary>
    public string? Param { get; } = param;
}

/// <summary>The engine's queue is full (HTTP 429): try again later.</summary>
public sealed class QueueFullException(int capacity) : SdttException($"the server is busy: {capacity} requests are already waiting; retry later")
{
    /// <summary>The queue's capacity.</summary>
    public int Capacity { get; } = capacity;
}
