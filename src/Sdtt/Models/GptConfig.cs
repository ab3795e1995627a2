using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.Configuration;

namespace Sdtt.Models;

/// <summary>Shape of a GPT-2-architecture causal language model (learned positions, pre-LayerNorm blocks, GELU-tanh MLP).
/// The presets match the widths, heads and depths of the diffusion presets (<see cref="DitConfig"/>) so that the two sides
/// of the latency benchmark have equal size.</summary>
/// <param name="HiddenSize">Model width (HF <c>n_embd</c>).</param>
/// <param name="NHeads">Attention heads (HF <c>n_head</c>); head dim = width / heads.</param>
/// <param name="NLayers">Transformer blocks (HF <c>n_layer</c>).</param>
/// <param name="NPositions">Maximum sequence length, rows of the learned position table (HF <c>n_positions</c>).</param>
/// <param name="VocabSize">Vocabulary (50257 for GPT-2; 50258 when the diffusion MASK id must be representable).</param>
/// <param name="TieWordEmbeddings">If true the output head is <c>wte</c>; otherwise a separate bias-free <c>lm_head</c>.</param>
/// <param name="Dropout">Embedding, attention and residual dropout (HF <c>resid_pdrop</c>), active in training mode only.</param>
/// <param name="LayerNormEpsilon">LayerNorm epsilon (HF <c>layer_norm_epsilon</c>).</param>
public sealed record GptConfig(
    int HiddenSize, int NHeads, int NLayers, int NPositions = 1024, int VocabSize = 50257,
    bool TieWordEmbeddings = true, double Dropout = 0.1, double LayerNormEpsilon = 1e-5)
{
    /// <summary>GPT-2's vocabulary size (50256 = &lt;|endoftext|&gt; is the last id).</summary>
    public const int Gpt2VocabSize = 50257;

    /// <summary>Hidden width of the MLP (4 × width, HF <c>n_inner = null</c>).</summary>
    public int MlpHidden => 4 * HiddenSize;
    /// <summary>Per-head width.</summary>
    public int HeadDim => HiddenSize / NHeads;

    /// <summary>A tiny model for tests (the shape of <see cref="DitConfig.Tiny"/>).</summary>
    public static GptConfig Tiny => FromName("tiny");
    /// <summary>A CPU demo size (the shape of <see cref="DitConfig.Demo"/>).</summary>
    public static GptConfig Demo => FromName("demo");
    /// <summary>GPT-2 small's shape (768 wide, 12 heads, 12 layers; 124,439,808 parameters with the tied head).</summary>
    public static GptConfig Small => FromName("small");
    /// <summary>GPT-2 medium's shape (1024 wide, 16 heads, 24 layers).</summary>
    public static GptConfig Medium => FromName("medium");
    /// <summary>The diffusion "large" shape (1536 wide, 16 heads, 24 layers).</summary>
    public static GptConfig Large => FromName("large");
    /// <summary>The shape of <see cref="DitConfig.XL"/> (2048 wide, 16 heads, 24 layers).</summary>
    public static GptConfig XL => FromName("xl");

    /// <summary>Preset by name (tiny, demo, small/sm, medium/md, large/lg, xl, 1.3b): the AR model of the same shape as
    /// the diffusion preset of that name (<see cref="DitConfig.FromName"/>, the one table of sizes), with GPT-2's vocabulary.</summary>
    public static GptConfig FromName(string name) => Matching(DitConfig.FromName(name), Gpt2VocabSize);

    /// <summary>The AR model with the same width, heads and depth as a diffusion config, with its vocabulary and
    /// sequence length (used by the latency benchmark).</summary>
    public static GptConfig Matching(DitConfig dit, int? vocab = null) =>
        new(dit.HiddenSize, dit.NHeads, dit.NBlocks, NPositions: dit.ModelLength, VocabSize: vocab ?? dit.VocabSize, Dropout: dit.Dropout);

    /// <summary>Exact trainable parameter count (the lm_head adds V·D only when untied).</summary>
    public long ParameterCount
    {
        get
        {
            long d = HiddenSize, v = VocabSize, p = NPositions, h = MlpHidden;
            long block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * h + h) + (h * d + d);
            return v * d + p * d + NLayers * block + 2 * d + (TieWordEmbeddings ? 0 : v * d);
        }
    }

    /// <summary>Validates the shape; throws a clear error.</summary>
    public GptConfig Validate()
    {
        if (HiddenSize <= 0 || NHeads <= 0 || NLayers <= 0 || NPositions <= 0 || VocabSize <= 1)
            throw new SdttException($"invalid GPT config: all sizes must be positive ({this})");
        if (HiddenSize % NHeads != 0) throw new SdttException($"invalid GPT config: n_embd {HiddenSize} is not divisible by {NHeads} heads");
        if (Dropout is < 0 or >= 1) throw new SdttException($"invalid GPT config: dropout {Dropout} must be in [0, 1)");
        if (LayerNormEpsilon is <= 0 or > 0.1) throw new SdttException($"invalid GPT config: layer_norm_epsilon {LayerNormEpsilon} is out of range");
        return this;
    }

    /// <summary>Reads an HF GPT-2 config.json (<c>n_embd</c>, <c>n_head</c>, <c>n_layer</c>, <c>n_positions</c>,
    /// <c>vocab_size</c>, <c>tie_word_embeddings</c>, <c>layer_norm_epsilon</c>, <c>resid_pdrop</c>).</summary>
    public static GptConfig FromJson(string json, string source = "config.json")
    {
        var root = ConfigJson.ParseObject(json, source);
        try
        {
            var type = root["model_type"]?.GetValue<string>();
            if (type is not null && type != "gpt2")
                throw new SdttException($"{source}: model_type '{type}' is not a GPT-2 model (expected gpt2)");
            if (root["activation_function"] is JsonValue act && act.GetValue<string>() is var a && a is not ("gelu_new" or "gelu_pytorch_tanh"))
                throw new SdttException($"{source}: activation_function '{a}' is not supported (only gelu_new)");
            if (root["n_inner"] is JsonValue inner && (int)inner.GetValue<double>() != 4 * (ConfigJson.Int(root, "n_embd") ?? 0))
                throw new SdttException($"{source}: n_inner other than 4·n_embd is not supported");
            return new GptConfig(
                ConfigJson.Required(root, "n_embd", source), ConfigJson.Required(root, "n_head", source), ConfigJson.Required(root, "n_layer", source),
                ConfigJson.Int(root, "n_positions") ?? ConfigJson.Int(root, "n_ctx") ?? 1024,
                ConfigJson.Int(root, "vocab_size") ?? Gpt2VocabSize,
                ConfigJson.Bool(root, "tie_word_embeddings") ?? true,
                ConfigJson.Double(root, "resid_pdrop") ?? 0.1,
                ConfigJson.Double(root, "layer_norm_epsilon") ?? 1e-5).Validate();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        { throw new SdttException($"{source}: a config field has the wrong type ({e.Message})"); }
    }

    /// <summary>The HF GPT-2 style (<c>model_type: gpt2</c>), readable by transformers' GPT2Config.</summary>
    public JsonObject ToJson() => new()
    {
        ["model_type"] = "gpt2",
        ["architectures"] = new JsonArray("GPT2LMHeadModel"),
        ["n_embd"] = HiddenSize,
        ["n_head"] = NHeads,
        ["n_layer"] = NLayers,
        ["n_positions"] = NPositions,
        ["n_ctx"] = NPositions,
        ["n_inner"] = null,
        ["vocab_size"] = VocabSize,
        ["activation_function"] = "gelu_new",
        ["resid_pdrop"] = Dropout,
        ["embd_pdrop"] = Dropout,
        ["attn_pdrop"] = Dropout,
        ["layer_norm_epsilon"] = LayerNormEpsilon,
        ["initializer_range"] = 0.02,
        ["tie_word_embeddings"] = TieWordEmbeddings,
        ["bos_token_id"] = 50256,
        ["eos_token_id"] = 50256,
        ["torch_dtype"] = "float32",
    };

}
