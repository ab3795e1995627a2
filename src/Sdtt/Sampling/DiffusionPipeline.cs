using Sdtt.Data;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>Text out of a model folder in one call, in the spirit of the reference's
/// <c>model.sample(n_samples, num_steps, seq_len, project_fn)</c>:
/// <code>
/// using var pipe = DiffusionPipeline.Load("runs/tiny/final", "cpu");
/// var output = pipe.Sample(numSamples: 4, steps: 64, seqLen: 128, prompt: "The President said");
/// foreach (var text in output.Texts) Console.WriteLine(text);
/// </code>
/// A prompt is encoded as [BOS] + GPT-2 tokens of the text and written into positions [0, len) of every sample (the
/// reference README's example). Sampling runs the sampler named by <c>sampler</c> (<see cref="SamplerRegistry"/>; default
/// reveal-first); pass <see cref="SamplingOptions"/> for seeds, temperature, top-p, infilling constraints, callbacks or cancellation.</summary>
public sealed class DiffusionPipeline : IDisposable
{
    private readonly bool _ownsModel;

    /// <summary>The network.</summary>
    public Dit Model { get; }

    /// <summary>The tokenizer used for prompts and decoding (GPT-2).</summary>
    public Gpt2Tokenizer Tokenizer => Gpt2Tokenizer.Instance;

    /// <summary>Wraps an already loaded model (not disposed by the pipeline unless <paramref name="ownsModel"/>).</summary>
    public DiffusionPipeline(Dit model, bool ownsModel = false)
    {
        Model = model;
        _ownsModel = ownsModel;
    }

    /// <summary>Loads a model folder (config.json + model.safetensors) onto <paramref name="device"/> ("cpu", "cuda",
    /// "auto"), in eval mode; <paramref name="bf16"/> runs linear layers and attention in bfloat16 with the weights stored in bfloat16.</summary>
    public static DiffusionPipeline Load(string dir, string device = "cpu", bool bf16 = false)
    {
        TorchRuntime.EnsureLoaded();
        var dev = TorchRuntime.ResolveDevice(device);
        var model = ModelFolder.LoadDit(dir, dev);
        if (bf16) model.KeepWeightsInBFloat16();
        return new DiffusionPipeline(model, ownsModel: true);
    }

    /// <summary>Checks a sampling request against the model folder <paramref name="dir"/> before any weights load (steps,
    /// samples and length against the model; a prompt's length and vocabulary) and returns the resolved length and the
    /// prompt's tokens ([BOS] + GPT-2 ids, or null). One-line <see cref="SdttException"/>s name the option at fault.</summary>
    public static (int SeqLen, long[]? Prompt) CheckRequest(string dir, int steps, int numSamples, int? seqLen, string? prompt)
    {
        if (!Directory.Exists(dir)) throw new SdttException($"--model {dir}: model folder not found");
        var cfg = ModelFolder.ReadDitConfig(dir);
        int len = seqLen ?? cfg.ModelLength;
        SamplingLimits.Check(steps, numSamples, len, cfg);
        long[]? tokens = prompt is null ? null : Prompt(prompt);
        if (tokens is not null && len < tokens.Length + 1)
            throw new SdttException($"--seq-len {len} is too short for the prompt ({tokens.Length} tokens with BOS); use at least {tokens.Length + 1}");
        if (tokens is not null && tokens.Any(t => t >= cfg.VocabSize || t == cfg.MaskIndex))
            throw new SdttException($"the prompt has GPT-2 ids outside this model's vocabulary ({cfg.VocabSize}); prompts need a GPT-2-vocabulary model");
        return (len, tokens);
    }

    /// <summary>[BOS] + GPT-2 tokens of <paramref name="text"/>.</summary>
    public long[] EncodePrompt(string text) => Prompt(text);

    private static long[] Prompt(string text) => new long[] { Gpt2Tokenizer.Bos }.Concat(Gpt2Tokenizer.Instance.Encode(text).Select(i => (long)i)).ToArray();

    /// <summary>Draws <paramref name="numSamples"/> sequences of <paramref name="seqLen"/> tokens (default: the model's
    /// length) with <paramref name="steps"/> ancestral steps. <paramref name="prompt"/> (text) becomes the prefix
    /// [BOS] + tokens; <paramref name="options"/> supplies every other setting (its Steps/NumSamples/SeqLen/Prompt are
    /// overridden by the explicit arguments); <paramref name="sampler"/> is a <see cref="SamplerRegistry"/> name (null =
    /// the default, reveal-first).</summary>
    public PipelineOutput Sample(int numSamples = 1, int steps = 128, int? seqLen = null, string? prompt = null, SamplingOptions? options = null,
        string? sampler = null)
    {
        var o = (options ?? new SamplingOptions()) with
        {
            NumSamples = numSamples,
            Steps = steps,
            SeqLen = seqLen ?? (options?.SeqLen is > 0 ? options.SeqLen : Model.Config.ModelLength),
        };
        if (prompt is not null) o = o with { Prompt = EncodePrompt(prompt) };
        if (o.Prompt is { Count: > 0 } p && p.Count >= o.SeqLen)
            throw new SdttException($"the prompt is {p.Count} tokens (with BOS); seq-len must be at least {p.Count + 1} (got {o.SeqLen})");
        var result = SamplerRegistry.Get(sampler).Sample(Model, o);
        return new PipelineOutput(result.Tokens.Select(Decode).ToArray(), result);
    }

    /// <summary>Readable text of one sample (BOS/EOS dropped).</summary>
    public string Decode(long[] tokens) => Tokenizer.DecodeClean(tokens.Select(t => (int)t));

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsModel) Model.Dispose();
    }
}

/// <summary>Decoded samples and the sampler's result (tokens, network calls, timing).</summary>
/// <param name="Texts">One decoded text per sample (prompt included, BOS/EOS dropped).</param>
/// <param name="Result">Tokens and statistics.</param>
public sealed record PipelineOutput(IReadOnlyList<string> Texts, SamplingResult Result)
{
    /// <summary>Samples [B][L].</summary>
    public long[][] Tokens => Result.Tokens;
}
