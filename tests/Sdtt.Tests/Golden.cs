using System.Text.Json.Nodes;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using static TorchSharp.torch;

namespace Sdtt.Tests;

/// <summary>Access to the reference golden vectors copied into Fixtures/golden.</summary>
public static class Golden
{
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "golden");
    public static string File(string name) => Path.Combine(Dir, name);

    public static SafeTensorsFile Open(string name)
    {
        TorchRuntime.EnsureLoaded();
        return new SafeTensorsFile(File(name));
    }

    public static JsonObject Json(string name) => JsonNode.Parse(System.IO.File.ReadAllText(File(name)))!.AsObject();

    /// <summary>The tiny golden config (vocab 1000, D 64, 4 heads, 2 blocks, cond 32, L 32).</summary>
    public static DitConfig TinyConfig(bool timeConditioning = false, bool adaptive = true) =>
        new(64, 4, 2, CondDim: 32, VocabSize: 1000, ModelLength: 32, Dropout: 0.1, TimeConditioning: timeConditioning, Adaptive: adaptive);

    /// <summary>The golden tiny DiT (or the perturbed student), in eval mode.</summary>
    public static Dit TinyModel(bool timeConditioning = false, bool adaptive = true, string file = "dit_tiny.safetensors")
    {
        TorchRuntime.EnsureLoaded();
        var model = new Dit(TinyConfig(timeConditioning, adaptive));
        using var f = Open(file);
        StateDictLoader.Load(model, f, k => !adaptive && (k.StartsWith("sigma_map") || k.Contains("adaLN")) ? null : k);
        model.eval();
        return model;
    }

    public static double MaxAbsDiff(Tensor a, Tensor b) => (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();
}

public static class TensorAssertExtensions
{
    /// <summary>Same shape and identical elements.</summary>
    public static bool EqualTo(this Tensor a, Tensor b) =>
        a.shape.SequenceEqual(b.shape) && (a.numel() == 0 || a.eq(b).all().item<bool>());
}
