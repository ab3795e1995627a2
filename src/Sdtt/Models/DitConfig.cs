using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.Configuration;

namespace Sdtt.Models;

/// <summary>Shape of an MDLM DiT backbone ("ddit-orig"). The mask token is the last vocabulary entry.</summary>
/// <param name="HiddenSize">Model width D.</param>
/// <param name="NHeads">Attention heads; head dim = D / heads.</param>
/// <param name="NBlocks">Transformer blocks.</param>
/// <param name="CondDim">Width of the conditioning vector c.</param>
/// <param name="VocabSize">Vocabulary including MASK (50258 for GPT-2).</param>
/// <param name="ModelLength">Training sequence length (rotary tables are built for the actual length at run time).</param>
/// <param name="Dropout">Residual dropout, active in training mode only.</param>
/// <param name="TimeConditioning">If false (every released OWT model) sigma is zeroed before the backbone.</param>
/// <param name="Adaptive">adaLN modulation present (the reference DiT); false = sdtt's non-adaptive variant.</param>
public sealed record DitConfig(
    int HiddenSize, int NHeads, int NBlocks, int CondDim = 128, int VocabSize = 50258, int ModelLength = 1024,
    double Dropout = 0.1, bool TimeConditioning = false, bool Adaptive = true)
{
    /// <summary>Hidden width of the MLP (4 D, hard-coded in the reference).</summary>
    public int MlpHidden => 4 * HiddenSize;
    /// <summary>Per-head width.</summary>
    public int HeadDim => HiddenSize / NHeads;
    /// <summary>Id of the absorbing MASK token (last column).</summary>
    public int MaskIndex => VocabSize - 1;
    /// <summary>Size of the sinusoidal time embedding fed to sigma_map.</summary>
    public const int FrequencyEmbeddingSize = 256;

    /// <summary>A tiny model for tests and CI (seconds to train on a CPU).</summary>
    public static DitConfig Tiny => new(HiddenSize: 64, NHeads: 4, NBlocks: 2, CondDim: 32, ModelLength: 128);
    /// <summary>A small CPU demo size (a few minutes of training on two cores).</summary>
    public static DitConfig Demo => new(HiddenSize: 256, NHeads: 4, NBlocks: 4, CondDim: 64, ModelLength: 256);
    /// <summary>The paper's small (169,627,218 parameters).</summary>
    public static DitConfig Small => new(768, 12, 12);
    /// <summary>The paper's medium (424,477,010 parameters).</summary>
    public static DitConfig Medium => new(1024, 16, 24);
    /// <summary>The paper's large (863,158,098 parameters).</summary>
    public static DitConfig Large => new(1536, 16, 24);
    /// <summary>A 1.3B shape for latency studies (D 2048, 16 heads, 24 blocks); the paper does not publish its shape.</summary>
    public static DitConfig XL => new(2048, 16, 24);
    /// <summary>The paper's 1.3B for latency studies: D 2048, 16 heads, 21 blocks (1,297,040,722 parameters with the 50,258
    /// vocabulary; <see cref="XL"/>'s 24 blocks give 1.45B because the DiT's output layer is untied and it carries adaLN).</summary>
    public static DitConfig OnePointThreeB => new(2048, 16, 21);

    /// <summary>Preset by name: tiny, demo, small/sm, medium/md, large, xl, 1.3b.</summary>
    public static DitConfig FromName(string name) => name.Trim().ToLowerInvariant() switch
    {
        "tiny" => Tiny,
        "demo" => Demo,
        "small" or "sm" => Small,
        "medium" or "md" => Medium,
        "large" or "lg" => Large,
        "xl" => XL,
        "1.3b" => OnePointThreeB,
        _ => throw new SdttException($"unknown model size '{name}'; use tiny, demo, small, medium, large, xl or 1.3b"),
    };

    /// <summary>Names accepted by <see cref="FromName"/>.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = new[] { "tiny", "demo", "small", "medium", "large", "xl", "1.3b" };

    /// <summary>Exact trainable parameter count (the rotary inv_freq buffer is not a parameter).</summary>
    public long ParameterCount
    {
        get
        {
            long d = HiddenSize, v = VocabSize, c = CondDim, h = MlpHidden;
            long embed = v * d;
            long sigma = Adaptive ? FrequencyEmbeddingSize * c + c + c * c + c : 0;
            long block = d + 3 * d * d + d * d + d + h * d + h + d * h + d + (Adaptive ? 6 * d * c + 6 * d : 0);
            long final = d + v * d + v + (Adaptive ? 2 * d * c + 2 * d : 0);
            return embed + sigma + NBlocks * block + final;
        }
    }

    /// <summary>Validates the shape; throws a clear error.</summary>
    public DitConfig Validate()
    {
        if (HiddenSize <= 0 || NHeads <= 0 || NBlocks <= 0 || CondDim <= 0 || VocabSize <= 1 || ModelLength <= 0)
            throw new SdttException($"invalid model config: all sizes must be positive ({this})");
        if (HiddenSize % NHeads != 0) throw new SdttException($"invalid model config: hidden size {HiddenSize} is not divisible by {NHeads} heads");
        if (HeadDim % 2 != 0) throw new SdttException($"invalid model config: head dim {HeadDim} must be even for rotary embeddings");
        if (Dropout is < 0 or >= 1) throw new SdttException($"invalid model config: dropout {Dropout} must be in [0, 1)");
        return this;
    }

    /// <summary>Reads either the HF MDLM style (hidden_dim, n_heads, …) or the SDTT style (nested <c>model.*</c>),
    /// or this project's own style (the HF style, which it writes).</summary>
    public static DitConfig FromJson(string json, string source = "config.json")
    {
        var root = ConfigJson.ParseObject(json, source);
        try
        {
            if (root["model"] is JsonObject m) // SDTT / Hydra: model.{hidden_size,n_heads,n_blocks,cond_dim,length,dropout}
            {
                string? type = m["type"]?.GetValue<string>();
                if (type is not null && type is not ("ddit-orig" or "ddit" or "dit"))
                    throw new SdttException($"{source}: model.type '{type}' is not a diffusion DiT (expected ddit-orig)");
                int vocab = ConfigJson.Int(root, "vocab_size") ?? ConfigJson.Int(m, "vocab_size") ?? 50258;
                bool tc = ConfigJson.Bool(root, "time_conditioning") ?? ConfigJson.Bool(m, "time_conditioning") ?? false;
                return new DitConfig(
                    ConfigJson.Required(m, "hidden_size", source), ConfigJson.Required(m, "n_heads", source), ConfigJson.Required(m, "n_blocks", source),
                    ConfigJson.Int(m, "cond_dim") ?? 128, vocab, ConfigJson.Int(m, "length") ?? 1024, ConfigJson.Double(m, "dropout") ?? 0.1, tc,
                    ConfigJson.Bool(m, "adaptive") ?? true).Validate();
            }
            return new DitConfig(
                ConfigJson.Int(root, "hidden_dim") ?? ConfigJson.Int(root, "hidden_size") ?? throw ConfigJson.Missing(source, "hidden_dim"),
                ConfigJson.Required(root, "n_heads", source), ConfigJson.Required(root, "n_blocks", source),
                ConfigJson.Int(root, "cond_dim") ?? 128, ConfigJson.Int(root, "vocab_size") ?? 50258,
                ConfigJson.Int(root, "model_length") ?? ConfigJson.Int(root, "length") ?? 1024, ConfigJson.Double(root, "dropout") ?? 0.1,
                ConfigJson.Bool(root, "time_conditioning") ?? false, ConfigJson.Bool(root, "adaptive") ?? true).Validate();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        { throw new SdttException($"{source}: a config field has the wrong type ({e.Message})"); }
    }

    /// <summary>The HF MDLM style, readable by <c>kuleshov-group/mdlm</c>'s configuration_mdlm.</summary>
    public JsonObject ToJson() => new()
    {
        ["model_type"] = "mdlm",
        ["architectures"] = new JsonArray("MDLM"),
        ["backbone"] = "dit",
        ["hidden_dim"] = HiddenSize,
        ["n_heads"] = NHeads,
        ["n_blocks"] = NBlocks,
        ["cond_dim"] = CondDim,
        ["vocab_size"] = VocabSize,
        ["model_length"] = ModelLength,
        ["dropout"] = Dropout,
        ["time_conditioning"] = TimeConditioning,
        ["adaptive"] = Adaptive,
        ["var_min"] = true,
        ["return_dict"] = false,
        ["torch_dtype"] = "float32",
    };

}
