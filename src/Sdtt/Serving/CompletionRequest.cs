namespace Sdtt.Serving;

/// <summary>One completion request: a text prompt and its own sampling settings. Every setting is per request, also
/// when the engine samples it inside a batch with others.</summary>
public sealed record CompletionRequest
{
    /// <summary>The prompt text (encoded as [BOS] + GPT-2 tokens). May be empty.</summary>
    public string Prompt { get; init; } = "";
    /// <summary>Tokens to generate at most (≥ 1); generation stops earlier at EOS or at a stop sequence.</summary>
    public int MaxTokens { get; init; } = 16;
    /// <summary>Diffusion steps per block (diffusion models only; null = the engine's default).</summary>
    public int? Steps { get; init; }
    /// <summary>Temperature T &gt; 0.</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Nucleus threshold in (0, 1] (1 = off).</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Seed of this request's own random stream (null = a random seed, reported in the result). A seeded
    /// request gives the same text alone and inside any batch.</summary>
    public long? Seed { get; init; }
    /// <summary>Stop sequences: the text ends before the first occurrence of any of them (not included).</summary>
    public IReadOnlyList<string>? Stop { get; init; }
    /// <summary>Treat EOS as an ordinary token instead of the end of the text (benchmarks: a fixed number of tokens).</summary>
    public bool IgnoreEos { get; init; }
    /// <summary>Called after every step on the engine's worker thread (keep it short): for diffusion after every sampler
    /// step with the current text of this request's block (masked positions shown as <see cref="CompletionPreview.MaskText"/>),
    /// for GPT after every new token with the text so far.</summary>
    public Action<CompletionPreview>? OnPreview { get; init; }
}

/// <summary>What the per-step preview callback sees.</summary>
/// <param name="Block">Semi-autoregressive block index (0 for the first).</param>
/// <param name="Step">Sampler step (−1 prior, 0..N−1, N the final fill).</param>
/// <param name="Steps">Steps N of the block.</param>
/// <param name="Text">Generated text of this block so far, with masked positions as <see cref="MaskText"/>.</param>
/// <param name="MasksLeft">Masked positions left in this block's generated region.</param>
public sealed record CompletionPreview(int Block, int Step, int Steps, string Text, int MasksLeft)
{
    /// <summary>How a masked position is shown in <see cref="Text"/>.</summary>
    public const string MaskText = "░";
}

/// <summary>A piece of streamed text; the last delta of a request carries its <see cref="FinishReason"/>.</summary>
/// <param name="Text">New text (may be empty on the last delta).</param>
/// <param name="FinishReason">Null until the request ends; then <see cref="FinishReasons.Stop"/> or <see cref="FinishReasons.Length"/>.</param>
public sealed record CompletionDelta(string Text, string? FinishReason);

/// <summary>OpenAI's finish reasons.</summary>
public static class FinishReasons
{
    /// <summary>EOS or a stop sequence ended the text.</summary>
    public const string Stop = "stop";
    /// <summary>The max-tokens limit ended the text.</summary>
    public const string Length = "length";
}

/// <summary>A finished completion.</summary>
/// <param name="Text">The generated text (prompt excluded, stop sequence excluded).</param>
/// <param name="FinishReason"><see cref="FinishReasons.Stop"/> or <see cref="FinishReasons.Length"/>.</param>
/// <param name="PromptTokens">GPT-2 tokens of the prompt (BOS not counted).</param>
/// <param name="CompletionTokens">Tokens generated (up to the stop; EOS not counted).</param>
/// <param name="Seed">The seed used (the request's, or the one drawn for it).</param>
/// <param name="Elapsed">Time from submission to the end.</param>
public sealed record CompletionResult(string Text, string FinishReason, int PromptTokens, int CompletionTokens, long Seed, TimeSpan Elapsed);
