using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using static TorchSharp.torch;

namespace Sdtt.Tests;

public class TokenizerTests
{
    [Fact]
    public void KnownIdsAndSpecialTokens()
    {
        var tok = Gpt2Tokenizer.Instance;
        Assert.Equal(new[] { 15496, 995 }, tok.Encode("Hello world"));
        Assert.Equal(50256, Gpt2Tokenizer.Bos);
        Assert.Equal(50256, Gpt2Tokenizer.Eos);
        Assert.Equal(50257, Gpt2Tokenizer.Mask);
        Assert.Equal(50258, Gpt2Tokenizer.ModelVocabSize);
        Assert.Equal("<|endoftext|>", tok.Decode(new[] { 50256 }));
        Assert.Equal("a[MASK]b", tok.Decode(tok.Encode("a").Append(50257).Concat(tok.Encode("b"))));
    }

    [Theory]
    [InlineData("Fellow-Citizens of the Senate and House of Representatives:")]
    [InlineData("  spaces\n\nnewlines\ttabs — unicode “quotes” 日本語 🙂")]
    [InlineData("")]
    public void RoundTrips(string text) => Assert.Equal(text, Gpt2Tokenizer.Instance.Decode(Gpt2Tokenizer.Instance.Encode(text)));
}

public class SafeTensorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sdtt-st").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void RoundTripsEveryDType()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var src = new Dictionary<string, Tensor>
        {
            ["f32"] = randn(3, 5), ["bf16"] = randn(4, 2).to(ScalarType.BFloat16), ["f16"] = randn(7).to(ScalarType.Float16),
            ["i64"] = randint(-100, 100, new long[] { 2, 3 }), ["f64"] = randn(2, 2, 2, dtype: ScalarType.Float64),
            ["scalar"] = tensor(3.5f), ["empty"] = zeros(0, 4),
        };
        var path = Path.Combine(_dir, "x.safetensors");
        SafeTensorsWriter.Write(path, src, new Dictionary<string, string> { ["note"] = "hi" });
        using var f = new SafeTensorsFile(path);
        Assert.Equal("hi", f.Metadata["note"]);
        foreach (var (k, v) in src)
        {
            var t = f.Load(k);
            Assert.Equal(v.dtype, t.dtype);
            Assert.True(v.EqualTo(t), k);
        }
        // dtype conversion on load
        Assert.Equal(ScalarType.Float32, f.Load("bf16", ScalarType.Float32).dtype);
        Assert.True(f.Load("bf16", ScalarType.Float32).EqualTo(src["bf16"].to(ScalarType.Float32)));
        Assert.False(File.Exists(path + ".sdtt-tmp"));
    }

    [Fact]
    public void ReadsTheGoldenFilesWrittenByTheReference()
    {
        using var f = Golden.Open("dit_tiny.safetensors");
        Assert.Equal(31, f.Entries.Count);
        Assert.Contains("config", f.Metadata.Keys);
        Assert.Equal(new long[] { 1000, 64 }, f.Entries["vocab_embed.embedding"].Shape);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "needs 8")]
    [InlineData("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", "unsupported dtype")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,800]}}", "outside")]
    [InlineData("{not json", "not valid JSON")]
    public void RejectsBadHeaders(string header, string expected)
    {
        TorchRuntime.EnsureLoaded();
        var path = Path.Combine(_dir, "bad.safetensors");
        var h = System.Text.Encoding.UTF8.GetBytes(header);
        using (var fs = File.Create(path))
        {
            fs.Write(BitConverter.GetBytes((ulong)h.Length));
            fs.Write(h);
            fs.Write(new byte[8]);
        }
        var e = Assert.Throws<SdttException>(() => new SafeTensorsFile(path));
        Assert.Contains(expected, e.Message);
    }
}

public class ConfigTests
{
    [Fact]
    public void ParameterCountsOfThePaperSizes()
    {
        // Computed from the shapes, without allocating weights.
        Assert.Equal(169_627_218L, DitConfig.Small.ParameterCount);
        Assert.Equal(424_477_010L, DitConfig.Medium.ParameterCount);
        Assert.Equal(863_158_098L, DitConfig.Large.ParameterCount);
    }

    [Fact]
    public void ParameterCountMatchesAnAllocatedModel()
    {
        using var m = new Dit(DitConfig.Tiny);
        Assert.Equal(DitConfig.Tiny.ParameterCount, m.parameters().Sum(p => p.numel()));
        using var g = Golden.TinyModel();
        Assert.Equal(Golden.TinyConfig().ParameterCount, g.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void ReadsBothConfigStyles()
    {
        var hf = DitConfig.FromJson("""{"hidden_dim":768,"n_heads":12,"n_blocks":12,"cond_dim":128,"vocab_size":50258,"model_length":1024,"dropout":0.1,"time_conditioning":false,"return_dict":false}""");
        Assert.Equal(DitConfig.Small, hf);
        var sdtt = DitConfig.FromJson("""{"model":{"name":"medium","type":"ddit-orig","hidden_size":1024,"cond_dim":128,"length":1024,"n_blocks":24,"n_heads":16,"scale_by_sigma":true,"dropout":0.1},"time_conditioning":false,"tokenizer":{"name":"gpt2"}}""");
        Assert.Equal(DitConfig.Medium, sdtt);
        Assert.Equal(DitConfig.Large, DitConfig.FromJson(DitConfig.Large.ToJson().ToJsonString()));
        Assert.Throws<SdttException>(() => DitConfig.FromJson("""{"hidden_dim":770,"n_heads":12,"n_blocks":1}"""));
        Assert.Throws<SdttException>(() => DitConfig.FromJson("""{"n_heads":12}"""));
    }
}

public class ModelFolderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sdtt-mf").FullName;
    public void Dispose() => Directory.Delete(_dir, true);

    private static Dictionary<string, Tensor> GoldenWeights()
    {
        using var f = Golden.Open("dit_tiny.safetensors");
        return f.Entries.Keys.ToDictionary(k => k, k => f.Load(k));
    }

    private string MakeFolder(string name, string prefix, bool withInvFreq, JsonObject config, Func<Tensor, Tensor>? convert = null)
    {
        var dir = Path.Combine(_dir, name);
        Directory.CreateDirectory(dir);
        var w = GoldenWeights().Where(kv => withInvFreq || kv.Key != "rotary_emb.inv_freq")
            .Select(kv => new KeyValuePair<string, Tensor>(prefix + kv.Key, convert is null ? kv.Value : convert(kv.Value)));
        SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), w);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        return dir;
    }

    private static JsonObject HfConfig() => JsonNode.Parse("""{"hidden_dim":64,"n_heads":4,"n_blocks":2,"cond_dim":32,"vocab_size":1000,"model_length":32,"dropout":0.1,"time_conditioning":false}""")!.AsObject();
    private static JsonObject SdttConfig() => JsonNode.Parse("""{"model":{"type":"ddit-orig","hidden_size":64,"cond_dim":32,"length":32,"n_blocks":2,"n_heads":4,"dropout":0.1},"vocab_size":1000,"time_conditioning":false}""")!.AsObject();

    [Theory]
    [InlineData("backbone.", true, "hf")]
    [InlineData("backbone.", false, "sdtt")]
    [InlineData("backbone.backbone.", true, "sdtt")]
    [InlineData("", false, "hf")]
    public void LoadsReleasedLayouts(string prefix, bool invFreq, string style)
    {
        using var scope = NewDisposeScope();
        var dir = MakeFolder($"m{prefix.Length}{invFreq}{style}", prefix, invFreq, style == "hf" ? HfConfig() : SdttConfig());
        using var model = ModelFolder.LoadDit(dir);
        using var g = Golden.Open("dit_tiny_cases.safetensors");
        using var _ = no_grad();
        Assert.True(Golden.MaxAbsDiff(model.Logits(g.Load("xt")), g.Load("tc_off.logits")) < 1e-4);
    }

    [Fact]
    public void ConvertsBf16WeightsOnLoad()
    {
        var dir = MakeFolder("bf16", "backbone.", true, HfConfig(), t => t.to(ScalarType.BFloat16));
        using var model = ModelFolder.LoadDit(dir);
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Fact]
    public void ReportsMissingUnexpectedAndMismatchedKeysInOneError()
    {
        var dir = Path.Combine(_dir, "bad");
        Directory.CreateDirectory(dir);
        var w = GoldenWeights();
        w.Remove("blocks.0.norm1.weight");
        w["extra.weight"] = zeros(3);
        w["blocks.1.norm2.weight"] = zeros(65);
        SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), w.Select(kv => new KeyValuePair<string, Tensor>("backbone." + kv.Key, kv.Value)));
        File.WriteAllText(Path.Combine(dir, "config.json"), HfConfig().ToJsonString());
        var e = Assert.Throws<SdttException>(() => ModelFolder.LoadDit(dir));
        Assert.Contains("1 missing: blocks.0.norm1.weight", e.Message);
        Assert.Contains("1 unexpected: backbone.extra.weight", e.Message);
        Assert.Contains("1 shape-mismatched: backbone.blocks.1.norm2.weight [65]", e.Message);
    }

    [Fact]
    public void SaveThenLoadIsExact()
    {
        using var scope = NewDisposeScope();
        using var model = Golden.TinyModel();
        var dir = Path.Combine(_dir, "saved");
        ModelFolder.SaveDit(dir, model, new JsonObject { ["step"] = 5 });
        using var back = ModelFolder.LoadDit(dir);
        var a = model.state_dict();
        foreach (var (k, v) in back.state_dict()) Assert.True(v.EqualTo(a[k]), k);
        Assert.Equal(5, ModelFolder.ReadConfigJson(dir)["sdtt"]!["step"]!.GetValue<int>());
    }
}
