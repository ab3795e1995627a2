using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sdtt.Models;

// Field names below are the reference state-dict names (e.g. blocks.0.attn_qkv.weight); do not rename them.
#pragma warning disable IDE1006

/// <summary>Numeric mode of a transformer body (DiT and GPT). LayerNorm, the residual stream, the SUBS step and the returned
/// logits are always float32.</summary>
public enum ModelPrecision
{
    /// <summary>Everything in float32 (parity mode).</summary>
    Float32,
    /// <summary>Linear layers and attention in bfloat16 with float32 residual stream, as the reference's bf16 autocast.</summary>
    BFloat16,
}

/// <summary>Shared numeric helpers of the DiT blocks.</summary>
internal static class DitOps
{
    // Held for the process: an implicit Scalar argument can be finalised while libtorch still reads it.
    internal static readonly Scalar One = 1.0.ToScalar();
    internal static readonly Scalar MinusOne = (-1.0).ToScalar();

    /// <summary>LayerNorm without bias, in float32, eps 1e-5, times weight (one fused kernel: the weight goes into layer_norm).</summary>
    public static Tensor Norm(Tensor x, Parameter weight)
    {
        var d = x.shape[^1];
        return F.layer_norm(x.to(ScalarType.Float32), new[] { d }, weight.to(ScalarType.Float32), null, 1e-5);
    }

    /// <summary>y = x Wᵀ + b in the requested precision.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias, ModelPrecision p)
    {
        if (p == ModelPrecision.BFloat16)
            return F.linear(x.to(ScalarType.BFloat16), weight.to(ScalarType.BFloat16), bias?.to(ScalarType.BFloat16));
        return F.linear(x.to(weight.dtype), weight, bias);
    }

    /// <summary>Rows up to which <see cref="VocabProjection"/> puts the weight on the left of the product. The product alone
    /// is faster that way up to 1024 rows, but its logits come out column-major and the vocabulary-wide ops after it
    /// (SUBS, shaping, the draw) slow down on them: at 1024 rows the latency benchmark's reveal-first @ 16 (demo, batch 8)
    /// went from 1456 to 1778 ms, so only decode-sized blocks take this path.</summary>
    internal const long SmallRows = 64;

    /// <summary>The vocabulary projection hidden [.., D] → logits [.., V] in float32. For a few rows in float32 (an AR
    /// decode step, the revealed rows of a diffusion step) it computes (W · hᵀ)ᵀ: with the [V, D] weight on the left the
    /// BLAS streams it once, where <c>linear</c> packs the transposed 50k × D weight on every call (2.3× slower at 8 rows
    /// here, measured by <c>bench/Sdtt.Benchmarks roofline</c>). Same products, summed in another order.</summary>
    public static Tensor VocabProjection(Tensor hidden, Tensor weight, Tensor? bias, ModelPrecision p)
    {
        long rows = hidden.NumberOfElements / hidden.shape[^1];
        if (p == ModelPrecision.BFloat16 || weight.dtype != ScalarType.Float32 || rows > SmallRows || hidden.requires_grad || weight.requires_grad && is_grad_enabled())
            return Linear(hidden, weight, bias, p).to(ScalarType.Float32);
        var flat = hidden.reshape(rows, hidden.shape[^1]).to(ScalarType.Float32);
        var logits = weight.matmul(flat.t()).t();
        if (bias is not null) logits = logits + bias;
        var shape = hidden.shape.ToArray();
        shape[^1] = weight.shape[0];
        return logits.reshape(shape);
    }

    /// <summary>x (1 + scale) + shift with scale/shift [B, D] broadcast over positions, as one pass over x (addcmul) instead
    /// of two: the trunk is small enough that every extra pass over [B, L, D] shows in the step time.</summary>
    public static Tensor Modulate(Tensor x, Tensor shift, Tensor scale) => shift.unsqueeze(1).addcmul(x, scale.unsqueeze(1) + One, One);

    /// <summary>x + gate ⊙ y (gate [B, D] broadcast over positions) in float32, as one pass (addcmul).</summary>
    public static Tensor GatedResidual(Tensor x, Tensor gate, Tensor y) =>
        x.addcmul(gate.unsqueeze(1), y.dtype == ScalarType.Float32 ? y : y.to(ScalarType.Float32), One);
}

/// <summary>The token embedding: a raw [V, D] parameter named <c>embedding</c>.</summary>
public sealed class VocabEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly Parameter embedding;

    /// <summary>A [vocab, dim] table with Kaiming-uniform initialisation.</summary>
    public VocabEmbedding(long vocab, long dim) : base("vocab_embed")
    {
        embedding = new Parameter(empty(vocab, dim));
        RegisterComponents();
        using var _ = no_grad();
        nn.init.kaiming_uniform_(embedding, a: Math.Sqrt(5));
    }

    /// <summary>The [V, D] table.</summary>
    public Parameter Weight => embedding;

    /// <summary>Embeds ids [B, L] → [B, L, D].</summary>
    public override Tensor forward(Tensor ids) => embedding.index_select(0, ids.reshape(-1)).reshape(ids.shape[0], ids.shape[1], -1);
}

/// <summary>Bias-free LayerNorm weight (the reference's LayerNorm module holds only <c>weight</c>).</summary>
public sealed class BiasFreeLayerNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;

    /// <summary>A LayerNorm weight of ones over <paramref name="dim"/> channels.</summary>
    public BiasFreeLayerNorm(long dim) : base("norm")
    {
        weight = new Parameter(ones(dim));
        RegisterComponents();
    }

    /// <summary>Normalises the last dimension in float32.</summary>
    public override Tensor forward(Tensor x) => DitOps.Norm(x, weight);
}

/// <summary>Sinusoidal embedding of sigma followed by a two-layer MLP (sigma_map.mlp.{0,2}).</summary>
public sealed class TimestepEmbedder : nn.Module<Tensor, Tensor>
{
    private readonly Sequential mlp;
    private readonly Tensor _freqs;

    /// <summary>The frequency embedding and MLP to <paramref name="condDim"/> channels.</summary>
    public TimestepEmbedder(long condDim) : base("sigma_map")
    {
        mlp = nn.Sequential(("0", nn.Linear(DitConfig.FrequencyEmbeddingSize, condDim)), ("1", nn.SiLU()), ("2", nn.Linear(condDim, condDim)));
        RegisterComponents();
        int half = DitConfig.FrequencyEmbeddingSize / 2;
        // f_k = exp(-ln(10000) * k / half), evaluated in float32 in the same order as the reference.
        _freqs = exp(arange(0, half, dtype: ScalarType.Float32) * (float)-Math.Log(10000) / half).DetachFromDisposeScope();
    }

    /// <summary>[cos(σ f), sin(σ f)] (cos first), shape [B, 256].</summary>
    public Tensor FrequencyEmbedding(Tensor sigma)
    {
        var args = sigma.to(ScalarType.Float32).unsqueeze(1) * _freqs.to(sigma.device).unsqueeze(0);
        return cat(new[] { cos(args), sin(args) }, -1);
    }

    /// <summary>The conditioning vector [B, cond] of sigma [B] (before the SiLU).</summary>
    public override Tensor forward(Tensor sigma) => mlp.call(FrequencyEmbedding(sigma));

    /// <summary>Frees the frequency table.</summary>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _freqs.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Rotary embedding tables; holds the persistent <c>inv_freq</c> buffer of the reference.</summary>
public sealed class RotaryEmbedding : nn.Module
{
    /// <summary>Rotary tables for heads of <paramref name="headDim"/> channels.</summary>
    public RotaryEmbedding(int headDim) : base("rotary_emb")
    {
        // inv_freq_j = 1 / 10000^(2j/hd) in float32, as the reference computes it.
        var invFreq = 1.0f / pow(10000f, arange(0, headDim, 2, dtype: ScalarType.Float32) / headDim);
        register_buffer("inv_freq", invFreq, persistent: true);
    }

    /// <summary>cos and sin tables [L, hd/2] for positions 0..L-1.</summary>
    public (Tensor Cos, Tensor Sin) Tables(long length, Device device)
    {
        var invFreq = get_buffer("inv_freq")!.to(device);
        var pos = arange(length, dtype: ScalarType.Float32, device: device);
        var theta = outer(pos, invFreq);
        return (cos(theta), sin(theta));
    }

    /// <summary>Half-split (GPT-NeoX) rotation of x [B, L, H, hd] with tables [L, hd/2].</summary>
    public static Tensor Apply(Tensor x, Tensor cosT, Tensor sinT) => Rotate(x, cosT.unsqueeze(1), sinT.unsqueeze(1));

    /// <summary>The rotation of q and k together: x [B, L, 2, H, hd] (a view of the fused qkv projection) with tables
    /// [L, hd/2]; half the kernel launches of rotating q and k one by one.</summary>
    public static Tensor ApplyQk(Tensor x, Tensor cosT, Tensor sinT) => Rotate(x, cosT.unsqueeze(1).unsqueeze(1), sinT.unsqueeze(1).unsqueeze(1));

    private static Tensor Rotate(Tensor x, Tensor c, Tensor s)
    {
        long half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        c = c.to(x.dtype);
        s = s.to(x.dtype);
        // [x1 c − x2 s, x2 c + x1 s]: two products and two fused multiply-adds, written into one output.
        return cat(new[] { (x1 * c).addcmul_(x2, s, DitOps.MinusOne), (x2 * c).addcmul_(x1, s, DitOps.One) }, -1);
    }
}

/// <summary>One adaLN-Zero DiT block (pre-LN, bidirectional attention with rotary, GELU-tanh MLP).</summary>
public sealed class DitBlock : nn.Module
{
    private readonly BiasFreeLayerNorm norm1;
    private readonly Linear attn_qkv;
    private readonly Linear attn_out;
    private readonly BiasFreeLayerNorm norm2;
    private readonly Sequential mlp;
    private readonly Linear? adaLN_modulation;
    private readonly int _heads;
    private readonly double _dropout;

    /// <summary>A block of the shape <paramref name="cfg"/>, adaLN zero-initialised.</summary>
    public DitBlock(DitConfig cfg) : base("block")
    {
        long d = cfg.HiddenSize;
        norm1 = new BiasFreeLayerNorm(d);
        attn_qkv = nn.Linear(d, 3 * d, hasBias: false);
        attn_out = nn.Linear(d, d, hasBias: false);
        norm2 = new BiasFreeLayerNorm(d);
        mlp = nn.Sequential(("0", nn.Linear(d, cfg.MlpHidden)), ("1", nn.GELU(GELU.Approximate.tanh)), ("2", nn.Linear(cfg.MlpHidden, d)));
        if (cfg.Adaptive) adaLN_modulation = nn.Linear(cfg.CondDim, 6 * d);
        _heads = cfg.NHeads;
        _dropout = cfg.Dropout;
        RegisterComponents();
        if (adaLN_modulation is not null)
        {
            using var _ = no_grad();
            adaLN_modulation.weight!.zero_();
            adaLN_modulation.bias!.zero_();
        }
    }

    /// <summary>Stores the attention and MLP weights in <paramref name="dtype"/> (adaLN and norms stay float32).</summary>
    internal void CastLinearWeights(ScalarType dtype)
    {
        attn_qkv.to(dtype);
        attn_out.to(dtype);
        mlp.to(dtype);
    }

    /// <summary>x [B, L, D] float32 residual stream; c [B, cond] or null for the non-adaptive variant.</summary>
    public Tensor Forward(Tensor x, Tensor? c, Tensor cosT, Tensor sinT, ModelPrecision p, IDictionary<string, Tensor>? trace = null, string prefix = "")
    {
        long b = x.shape[0], l = x.shape[1], d = x.shape[2];
        Tensor shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp;
        bool adaptive = adaLN_modulation is not null && c is not null;
        if (adaptive)
        {
            var m = F.linear(c!, adaLN_modulation!.weight!, adaLN_modulation.bias);
            if (trace != null) trace[prefix + "adaLN"] = m.detach().clone();
            var ch = m.chunk(6, -1);
            (shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp) = (ch[0], ch[1], ch[2], ch[3], ch[4], ch[5]);
        }
        else
        {
            shiftMsa = scaleMsa = gateMsa = shiftMlp = scaleMlp = gateMlp = null!;
        }

        var u = norm1.forward(x);
        if (adaptive) u = DitOps.Modulate(u, shiftMsa, scaleMsa);
        var qkv = DitOps.Linear(u, attn_qkv.weight!, null, p);
        if (trace != null) trace[prefix + "qkv"] = qkv.detach().clone();
        var parts = qkv.view(b, l, 3, _heads, d / _heads);
        var qk = RotaryEmbedding.ApplyQk(parts.narrow(2, 0, 2), cosT, sinT);
        var q = qk.select(2, 0);
        var k = qk.select(2, 1);
        var v = parts.select(2, 2);
        if (trace != null) trace[prefix + "qkv_rotary"] = stack(new[] { q, k, v }, 2).detach().clone();
        var attn = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
            .transpose(1, 2).reshape(b, l, d);
        if (trace != null) trace[prefix + "attn"] = attn.detach().clone();
        var proj = DitOps.Linear(attn, attn_out.weight!, null, p);
        if (trace != null) trace[prefix + "attn_proj"] = proj.detach().clone();
        proj = F.dropout(proj, _dropout, training);
        x = adaptive ? DitOps.GatedResidual(x, gateMsa, proj) : x + proj.to(ScalarType.Float32);

        u = norm2.forward(x);
        if (adaptive) u = DitOps.Modulate(u, shiftMlp, scaleMlp);
        var w0 = (Linear)mlp[0];
        var w2 = (Linear)mlp[2];
        var hidden = F.gelu(DitOps.Linear(u, w0.weight!, w0.bias, p), GELU.Approximate.tanh);
        var y = F.dropout(DitOps.Linear(hidden, w2.weight!, w2.bias, p), _dropout, training);
        x = adaptive ? DitOps.GatedResidual(x, gateMlp, y) : x + y.to(ScalarType.Float32);
        if (trace != null) trace[prefix + "out"] = x.detach().clone();
        return x;
    }
}

/// <summary>Final adaLN modulation and the vocabulary projection (output_layer.*).</summary>
public sealed class DitFinalLayer : nn.Module
{
    private readonly BiasFreeLayerNorm norm_final;
    private readonly Linear linear;
    private readonly Linear? adaLN_modulation;

    /// <summary>The final layer of the shape <paramref name="cfg"/>, zero-initialised.</summary>
    public DitFinalLayer(DitConfig cfg) : base("output_layer")
    {
        norm_final = new BiasFreeLayerNorm(cfg.HiddenSize);
        linear = nn.Linear(cfg.HiddenSize, cfg.VocabSize);
        if (cfg.Adaptive) adaLN_modulation = nn.Linear(cfg.CondDim, 2 * cfg.HiddenSize);
        RegisterComponents();
        using var _ = no_grad();
        linear.weight!.zero_();
        linear.bias!.zero_();
        if (adaLN_modulation is not null)
        {
            adaLN_modulation.weight!.zero_();
            adaLN_modulation.bias!.zero_();
        }
    }

    /// <summary>Stores the vocabulary projection in <paramref name="dtype"/> (adaLN and norm stay float32).</summary>
    internal void CastLinearWeights(ScalarType dtype) => linear.to(dtype);

    /// <summary>The modulated final hidden state [.., D] that enters the vocabulary projection.</summary>
    public Tensor Hidden(Tensor x, Tensor? c, IDictionary<string, Tensor>? trace = null)
    {
        var u = norm_final.forward(x);
        if (adaLN_modulation is not null && c is not null)
        {
            var m = F.linear(c, adaLN_modulation.weight!, adaLN_modulation.bias);
            if (trace != null) trace["final.adaLN"] = m.detach().clone();
            var ch = m.chunk(2, -1);
            u = DitOps.Modulate(u, ch[0], ch[1]);
        }
        return u;
    }

    /// <summary>Logits for hidden rows of any leading shape, returned in float32.</summary>
    public Tensor Project(Tensor hidden, ModelPrecision p) => DitOps.VocabProjection(hidden, linear.weight!, linear.bias, p);
}
