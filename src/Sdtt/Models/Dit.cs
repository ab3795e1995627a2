using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;


namespace Sdtt.Models;

#pragma warning disable IDE1006

/// <summary>The MDLM diffusion transformer (reference <c>ddit-orig</c>). Parameter names match the reference state dict.
/// <see cref="Hidden"/> and <see cref="ProjectRows"/> are split so callers can compute the 50k-way output layer only
/// at the positions they need (masked positions in training and sampling).</summary>
public sealed class Dit : nn.Module, IDenoiser, IPrecisionSwitchable
{
    private readonly VocabEmbedding vocab_embed;
    private readonly TimestepEmbedder? sigma_map;
    private readonly RotaryEmbedding rotary_emb;
    private readonly ModuleList<DitBlock> blocks;
    private readonly DitFinalLayer output_layer;

    /// <summary>The shape this model was built with.</summary>
    public DitConfig Config { get; }

    /// <summary>Numeric mode of linear layers and attention (default float32).</summary>
    public ModelPrecision Precision { get; set; } = ModelPrecision.Float32;

    /// <summary>Inference in bfloat16 with the weights kept in bfloat16: casts the attention, MLP and vocabulary-projection
    /// weights once (instead of on every call, as <see cref="ModelPrecision.BFloat16"/> alone does for training, where the
    /// float32 weights are the optimizer's master copy) and sets <see cref="Precision"/>. Embedding, adaLN, time embedding
    /// and norms stay float32. Inference only: do not train or save the model afterwards.</summary>
    public void KeepWeightsInBFloat16()
    {
        using var _ = no_grad();
        foreach (var block in blocks) block.CastLinearWeights(ScalarType.BFloat16);
        output_layer.CastLinearWeights(ScalarType.BFloat16);
        Precision = ModelPrecision.BFloat16;
    }

    /// <summary>Builds a model with the reference initialisation (adaLN and output layer zeroed).</summary>
    public Dit(DitConfig config) : base("dit")
    {
        Config = config.Validate();
        vocab_embed = new VocabEmbedding(config.VocabSize, config.HiddenSize);
        if (config.Adaptive) sigma_map = new TimestepEmbedder(config.CondDim);
        rotary_emb = new RotaryEmbedding(config.HeadDim);
        blocks = new ModuleList<DitBlock>(Enumerable.Range(0, config.NBlocks).Select(_ => new DitBlock(config)).ToArray());
        output_layer = new DitFinalLayer(config);
        RegisterComponents();
    }

    /// <inheritdoc />
    public int MaskIndex => Config.MaskIndex;
    /// <inheritdoc />
    public int VocabSize => Config.VocabSize;
    /// <inheritdoc />
    public bool TimeConditioned => Config.TimeConditioning;
    /// <inheritdoc />
    public Device Device => vocab_embed.Weight.device;

    /// <summary>The conditioning vector c = SiLU(sigma_map(sigma)) [B, cond], or null for the non-adaptive variant.
    /// With time conditioning off the reference zeroes sigma first, so c is a per-model constant.</summary>
    public Tensor? Conditioning(Tensor sigma)
    {
        if (sigma_map is null) return null;
        if (!Config.TimeConditioning) sigma = zeros_like(sigma);
        return F.silu(sigma_map.forward(sigma));
    }

    /// <summary>Final modulated hidden state [B, L, D] (float32) for tokens [B, L] and sigma [B].</summary>
    public Tensor Hidden(Tensor tokens, Tensor? sigma = null, IDictionary<string, Tensor>? trace = null)
    {
        long b = tokens.shape[0], l = tokens.shape[1];
        sigma ??= zeros(b, device: tokens.device);
        var x = vocab_embed.forward(tokens).to(ScalarType.Float32);
        if (trace != null) trace["embed"] = x.detach().clone();
        if (trace != null && sigma_map != null) trace["t_freq"] = sigma_map.FrequencyEmbedding(Config.TimeConditioning ? sigma : zeros_like(sigma)).detach().clone();
        var c = Conditioning(sigma);
        if (trace != null && c is not null) trace["c"] = c.detach().clone();
        var (cosT, sinT) = rotary_emb.Tables(l, tokens.device);
        for (int i = 0; i < blocks.Count; i++)
            x = blocks[i].Forward(x, c, cosT, sinT, Precision, trace, $"block{i}.");
        var h = output_layer.Hidden(x, c, trace);
        if (trace != null) trace["final.hidden"] = h.detach().clone();
        return h;
    }

    /// <summary>Logits for hidden rows [.., D] → [.., V] (float32).</summary>
    public Tensor ProjectRows(Tensor hidden) => output_layer.Project(hidden, Precision);

    /// <summary>Raw logits [B, L, V] (float32).</summary>
    public Tensor Logits(Tensor tokens, Tensor? sigma = null) => ProjectRows(Hidden(tokens, sigma));

    /// <inheritdoc />
    public Tensor LogProbs(Tensor tokens, Tensor? sigma = null)
    {
        using var scope = NewDisposeScope();
        return Subs.Apply(Logits(tokens, sigma), tokens, MaskIndex).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    int? IDenoiser.ModelLength => Config.ModelLength;

    /// <inheritdoc />
    /// <remarks>Keeps the final hidden states [B·L, D] and computes the 50k-way output layer per chunk.</remarks>
    public IMaskedRowScores ScoreMaskedRows(Tensor tokens, Tensor maskedRows, Tensor? sigma = null)
    {
        using var scope = NewDisposeScope();
        var h = Hidden(tokens, sigma);
        return new HiddenRowScores(this, h.reshape(-1, h.shape[^1]).contiguous().DetachFromDisposeScope());
    }

    private sealed class HiddenRowScores(Dit dit, Tensor hidden) : IMaskedRowScores
    {
        public Tensor Score(Tensor rows, long start, long count)
        {
            using var scope = NewDisposeScope();
            return Subs.MaskedRows(dit.ProjectRows(hidden.index_select(0, rows)), dit.MaskIndex).MoveToOuterDisposeScope();
        }

        public bool RecomputesRows => true;

        public void Dispose() => hidden.Dispose();
    }

    /// <inheritdoc />
    public Tensor LogProbsAt(Tensor tokens, Tensor rowIndex, Tensor? sigma = null)
    {
        using var scope = NewDisposeScope();
        var h = Hidden(tokens, sigma);
        var rows = h.reshape(-1, h.shape[^1]).index_select(0, rowIndex);
        return Subs.MaskedRows(ProjectRows(rows), MaskIndex).MoveToOuterDisposeScope();
    }
}
