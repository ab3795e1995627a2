using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Sdtt.Serving;

/// <summary>A Microsoft.Extensions.AI <see cref="IChatClient"/> over a <see cref="CompletionEngine"/>: the conversation
/// is formatted by <see cref="ChatPromptFormat"/> and completed by the engine (batched with every other request).
/// <see cref="ChatOptions"/> map to the request: MaxOutputTokens (default 64), Temperature, TopP, Seed, StopSequences,
/// and AdditionalProperties["steps"] for the diffusion step count.
/// <code>
/// using var engine = CompletionEngine.Open("runs/pipeline/train");
/// IChatClient chat = new SdttChatClient(engine);
/// var reply = await chat.GetResponseAsync("What did the President say?", new ChatOptions { MaxOutputTokens = 48, Seed = 1 });
/// Console.WriteLine(reply.Text);
/// </code></summary>
public sealed class SdttChatClient : IChatClient
{
    private readonly CompletionEngine _engine;

    /// <summary>A client over <paramref name="engine"/> (not disposed by the client).</summary>
    public SdttChatClient(CompletionEngine engine)
    {
        _engine = engine;
        Metadata = new ChatClientMetadata("sdtt", null, engine.ModelId);
    }

    /// <summary>Provider "sdtt" and the engine's model id.</summary>
    public ChatClientMetadata Metadata { get; }

    /// <summary>Default max output tokens when the options name none.</summary>
    public int DefaultMaxTokens { get; init; } = 64;

    /// <summary>The completion request for a conversation and options (also used by the HTTP server).</summary>
    public CompletionRequest ToRequest(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        int? steps = null;
        if (options?.AdditionalProperties?.TryGetValue("steps", out var s) == true && s is not null)
            steps = Convert.ToInt32(s, System.Globalization.CultureInfo.InvariantCulture);
        return new CompletionRequest
        {
            Prompt = ChatPromptFormat.Format(messages.Select(m => (m.Role.Value, m.Text ?? ""))),
            MaxTokens = options?.MaxOutputTokens ?? DefaultMaxTokens,
            Temperature = options?.Temperature ?? 1.0,
            TopP = options?.TopP ?? 1.0,
            Seed = options?.Seed,
            Steps = steps,
            Stop = ChatPromptFormat.Stops(options?.StopSequences),
        };
    }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var r = await _engine.CompleteAsync(ToRequest(messages, options), cancellationToken).ConfigureAwait(false);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, r.Text))
        {
            ModelId = _engine.ModelId,
            ResponseId = NewId(),
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Reason(r.FinishReason),
            Usage = new UsageDetails { InputTokenCount = r.PromptTokens, OutputTokenCount = r.CompletionTokens, TotalTokenCount = r.PromptTokens + r.CompletionTokens },
        };
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var id = NewId();
        await foreach (var d in _engine.StreamAsync(ToRequest(messages, options), cancellationToken).ConfigureAwait(false))
        {
            yield return new ChatResponseUpdate(ChatRole.Assistant, d.Text)
            {
                ResponseId = id,
                MessageId = id,
                ModelId = _engine.ModelId,
                FinishReason = d.FinishReason is null ? null : Reason(d.FinishReason),
            };
        }
    }

    private static string NewId() => "chatcmpl-" + Guid.NewGuid().ToString("N");

    private static ChatFinishReason Reason(string r) => r == FinishReasons.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? Metadata
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType.IsInstanceOfType(_engine) ? _engine
        : null;

    /// <summary>Nothing to free (the engine belongs to the caller).</summary>
    public void Dispose() { }
}
