using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sdtt.Models;

#pragma warning disable IDE1006

/// <summary>A GPT-2-architecture causal language model: token and learned position embeddings (<c>wte</c>, <c>wpe</c>),
/// pre-LayerNorm blocks <c>h.N</c>, final LayerNorm <c>ln_f</c>, and an output head tied to <c>wte</c> or a separate
/// <c>lm_head</c>. Parameter names follow HF GPT-2 so <see cref="Sdtt.IO.GptModelFolder"/> loads released GPT-2 checkpoints.
/// Besides generation (<see cref="Forward(Tensor, KvCache?, bool)"/> with a <see cref="KvCache"/>) it serves as a judge:
/// <see cref="TokenLogProbs"/> scores sequences (generative perplexity, LAMBADA, multiple choice) and
/// <see cref="Features"/> returns the last hidden state (MAUVE).</summary>
public sealed class GptModel : nn.Module, IPrecisionSwitchable
{
    private readonly Embedding wte;
    private readonly Embedding wpe;
    private readonly ModuleList<GptBlock> h;
    private readonly LayerNorm ln_f;
    private readonly Linear? lm_head;

    /// <summary>The shape this model was built with.</summary>
    public GptConfig Config { get; }

    /// <summary>Numeric mode: <see cref="ModelPrecision.BFloat16"/> runs linear layers and attention in bfloat16
    /// (LayerNorm, the residual stream and the returned logits stay float32).</summary>
    public ModelPrecision Precision { get; set; } = ModelPrecision.Float32;

    /// <summary>Inference in bfloat16 with the weights kept in bfloat16: casts the block projections and an untied head once
    /// (instead of on every call) and sets <see cref="Precision"/>; embeddings, a tied head and LayerNorms stay float32.
    /// Inference only: do not train or save the model afterwards.</summary>
    public void KeepWeightsInBFloat16()
    {
        using var _ = no_grad();
        foreach (var block in h) block.CastLinearWeights(ScalarType.BFloat16);
        lm_head?.to(ScalarType.BFloat16);
        Precision = ModelPrecision.BFloat16;
    }

    private Tensor? _headColumns;

    /// <summary>Inference: keeps a second, column-major copy of the float32 head ([D, V], V·D·4 more bytes) for decoding one
    /// row at a time. A single-row product streams it at the copy bandwidth (1.4 ms for the demo's 50257 × 256 head here)
    /// where both row-major forms run at half that (3.3 ms), and the head is most of a batch-1 decode step. Call it after
    /// the weights are final (loading, <see cref="KeepWeightsInBFloat16"/>); do not train the model afterwards.</summary>
    public void PrepareForDecoding()
    {
        _headColumns?.Dispose();
        _headColumns = null;
        if (OutputWeight.dtype != ScalarType.Float32 || Precision != ModelPrecision.Float32) return;
        using var _ = no_grad();
        _headColumns = OutputWeight.detach().t().contiguous().DetachFromDisposeScope();
    }

    /// <summary>Builds a model with GPT-2's initialisation: weights N(0, 0.02), the two residual output projections of
    /// each block N(0, 0.02/√(2·n_layer)), biases 0, LayerNorm 1/0. Seed with <c>torch.manual_seed</c> beforehand.</summary>
    public GptModel(GptConfig config) : base("gpt2")
    {
        Config = config.Validate();
        wte = nn.Embedding(config.VocabSize, config.HiddenSize);
        wpe = nn.Embedding(config.NPositions, config.HiddenSize);
        h = new ModuleList<GptBlock>(Enumerable.Range(0, config.NLayers).Select(_ => new GptBlock(config)).ToArray());
        ln_f = nn.LayerNorm(config.HiddenSize, config.LayerNormEpsilon);
        if (!config.TieWordEmbeddings) lm_head = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        RegisterComponents();
        Initialize();
    }

    private void Initialize()
    {
        using var _ = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith(".bias")) p.zero_();
            else if (name.Contains("ln_")) p.fill_(1.0);
            else nn.init.normal_(p, 0.0, 0.02);
        }
        double scaled = 0.02 / Math.Sqrt(2.0 * Config.NLayers);
        foreach (var block in h)
            foreach (var proj in block.OutProjections)
                nn.init.normal_(proj.weight!, 0.0, scaled);
    }

    /// <summary>Device of the parameters.</summary>
    public Device Device => wte.weight!.device;

    /// <summary>The output embedding [V, D] (<c>wte</c> when tied, else <c>lm_head</c>).</summary>
    public Parameter OutputWeight => lm_head?.weight ?? wte.weight!;

    /// <summary>Final hidden state after <c>ln_f</c> [B, L, D] (float32) for tokens [B, L]. With a cache, the tokens sit at
    /// positions cache.Length … cache.Length + L − 1, their keys/values are stored, and the cursor advances by L.</summary>
    public Tensor Hidden(Tensor tokens, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        if (tokens.dim() != 2) throw new SdttException($"GPT input must be [batch, length], got {tokens.dim()} dims");
        long l = tokens.shape[1];
        long past = cache?.Length ?? 0;
        if (past + l > Config.NPositions)
            throw new SdttException($"sequence of {past + l} positions exceeds the model's n_positions {Config.NPositions}");
        if (l == 0) throw new SdttException("GPT input has no positions");
        var pos = arange(past, past + l, dtype: ScalarType.Int64, device: tokens.device).unsqueeze(0);
        var x = (wte.forward(tokens) + wpe.forward(pos)).to(ScalarType.Float32);
        x = F.dropout(x, Config.Dropout, training);
        for (int i = 0; i < h.Count; i++) x = h[i].Forward(x, cache, i, Precision);
        cache?.Advance(l);
        return ln_f.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary>Logits [.., V] (float32) for hidden rows [.., D].</summary>
    public Tensor Project(Tensor hidden)
    {
        if (_headColumns is { } wt && Precision == ModelPrecision.Float32 && hidden.NumberOfElements == hidden.shape[^1] && !is_grad_enabled())
        {
            var shape = hidden.shape.ToArray();
            shape[^1] = wt.shape[1];
            return hidden.reshape(1, -1).to(ScalarType.Float32).matmul(wt).reshape(shape);
        }
        return DitOps.VocabProjection(hidden, OutputWeight, null, Precision);
    }

    /// <summary>Next-token logits [B, L, V] (float32) for tokens [B, L]; with <paramref name="lastOnly"/>, only for the last
    /// position ([B, 1, V], which skips the vocabulary projection of the prompt in a prefill). With a cache this is prefill
    /// (L ≥ 1 new tokens) or single-token decode (L = 1); the cache is appended to and advanced.</summary>
    public Tensor Forward(Tensor tokens, KvCache? cache = null, bool lastOnly = false)
    {
        using var scope = NewDisposeScope();
        var hid = Hidden(tokens, cache);
        if (lastOnly) hid = hid[.., ^1..];
        return Project(hid).MoveToOuterDisposeScope();
    }

    /// <summary>Teacher-forced log-likelihood: log p(x[i+1] | x[0..i]) for every next token, [B, L−1] float32.
    /// This is the judge's scoring for generative perplexity (exp of the negative mean), LAMBADA (sum over the target span)
    /// and multiple choice (sum over each answer's tokens). The vocabulary projection runs in chunks of
    /// <paramref name="chunkRows"/> positions to bound memory.</summary>
    public Tensor TokenLogProbs(Tensor tokens, int chunkRows = 1024)
    {
        using var scope = NewDisposeScope();
        long b = tokens.shape[0], l = tokens.shape[1];
        if (l < 2) throw new SdttException("scoring needs sequences of at least 2 tokens");
        var hid = Hidden(tokens)[.., ..^1].reshape(b * (l - 1), -1);
        var targets = tokens[.., 1..].reshape(-1).to(ScalarType.Int64);
        var parts = new List<Tensor>();
        for (long s = 0; s < b * (l - 1); s += chunkRows)
        {
            long n = Math.Min(chunkRows, b * (l - 1) - s);
            var lp = F.log_softmax(Project(hid.narrow(0, s, n)), -1);
            parts.Add(lp.gather(1, targets.narrow(0, s, n).unsqueeze(1)).squeeze(1));
        }
        return cat(parts, 0).reshape(b, l - 1).MoveToOuterDisposeScope();
    }

    /// <summary>Features for MAUVE: the last hidden state after <c>ln_f</c>, [B, L, D] float32 (take [:, −1] for the
    /// last-token feature of HF's GPT-2 AutoModel).</summary>
    public Tensor Features(Tensor tokens) => Hidden(tokens);

    /// <summary>Mean next-token cross-entropy (nats) over all positions of tokens [B, L] (the causal LM loss).</summary>
    public Tensor Loss(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var logits = Forward(tokens[.., ..^1]);
        var targets = tokens[.., 1..].reshape(-1).to(ScalarType.Int64);
        return F.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets).MoveToOuterDisposeScope();
    }

    /// <summary>Frees the decoding copy of the head.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing) { _headColumns?.Dispose(); _headColumns = null; }
        base.Dispose(disposing);
    }
}
