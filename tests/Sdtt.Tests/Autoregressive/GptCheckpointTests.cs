using System.Text.Json.Nodes;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using static TorchSharp.torch;

namespace Sdtt.Tests.Autoregressive;

/// <summary>A tiny HF GPT-2 folder (Conv1D weights stored [in, out], attention-mask buffers present) is built here with
/// random weights, loaded, and checked against a straightforward float64 forward written from the checkpoint tensors.</summary>
[Collection(global::Sdtt.Tests.Distillation.GlobalTorchRngCollection.Name)] // uses the global torch generator (model init, manual_seed): not in parallel with the trainer tests
public class GptCheckpointTests : IDisposable
{
    private const int D = 32, H = 4, Layers = 2, Positions = 16, Vocab = 97;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sdtt-gpt-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    /// <summary>Writes config.json and model.safetensors in the HF GPT-2 layout and returns the raw tensors (float64).</summary>
    private Dictionary<string, Tensor> WriteHfFolder(string dir, bool tied, bool prefixed, long seed = 1)
    {
        TorchRuntime.EnsureLoaded();
        Directory.CreateDirectory(dir);
        var gen = new Generator((ulong)seed, CPU);
        Tensor R(params long[] shape) => randn(shape, ScalarType.Float32, generator: gen) * 0.3f;
        var t = new Dictionary<string, Tensor>
        {
            ["wte.weight"] = R(Vocab, D),
            ["wpe.weight"] = R(Positions, D),
            ["ln_f.weight"] = 1 + R(D),
            ["ln_f.bias"] = R(D),
        };
        for (int i = 0; i < Layers; i++)
        {
            string p = $"h.{i}.";
            t[p + "ln_1.weight"] = 1 + R(D);
            t[p + "ln_1.bias"] = R(D);
            t[p + "attn.c_attn.weight"] = R(D, 3 * D); // Conv1D: [in, out]
            t[p + "attn.c_attn.bias"] = R(3 * D);
            t[p + "attn.c_proj.weight"] = R(D, D);
            t[p + "attn.c_proj.bias"] = R(D);
            t[p + "ln_2.weight"] = 1 + R(D);
            t[p + "ln_2.bias"] = R(D);
            t[p + "mlp.c_fc.weight"] = R(D, 4 * D);
            t[p + "mlp.c_fc.bias"] = R(4 * D);
            t[p + "mlp.c_proj.weight"] = R(4 * D, D);
            t[p + "mlp.c_proj.bias"] = R(D);
        }
        if (!tied) t["lm_head.weight"] = R(Vocab, D);
        var file = t.Select(kv => new KeyValuePair<string, Tensor>(
            kv.Key == "lm_head.weight" || !prefixed ? kv.Key : "transformer." + kv.Key, kv.Value)).ToList();
        // the old-style causal-mask buffers that released GPT-2 files carry; the loader must ignore them
        for (int i = 0; i < Layers; i++)
        {
            string p = (prefixed ? "transformer." : "") + $"h.{i}.";
            file.Add(new(p + "attn.bias", ones(Positions, Positions).tril().view(1, 1, Positions, Positions)));
            file.Add(new(p + "attn.masked_bias", tensor(-1e4f)));
        }
        SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), file, new Dictionary<string, string> { ["format"] = "pt" });
        var config = new JsonObject
        {
            ["activation_function"] = "gelu_new", ["architectures"] = new JsonArray("GPT2LMHeadModel"), ["attn_pdrop"] = 0.1,
            ["bos_token_id"] = 50256, ["embd_pdrop"] = 0.1, ["eos_token_id"] = 50256, ["initializer_range"] = 0.02,
            ["layer_norm_epsilon"] = 1e-5, ["model_type"] = "gpt2", ["n_ctx"] = Positions, ["n_embd"] = D, ["n_head"] = H,
            ["n_layer"] = Layers, ["n_positions"] = Positions, ["resid_pdrop"] = 0.1, ["vocab_size"] = Vocab,
            ["tie_word_embeddings"] = tied, ["task_specific_params"] = new JsonObject { ["text-generation"] = new JsonObject { ["do_sample"] = true } },
        };
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        return t.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float64));
    }

    /// <summary>GPT-2 written out by hand from the checkpoint tensors: Conv1D is x·W + b with W [in, out].</summary>
    private static Tensor ReferenceLogits(Dictionary<string, Tensor> w, Tensor tokens, bool tied)
    {
        long b = tokens.shape[0], l = tokens.shape[1], hd = D / H;
        Tensor Ln(Tensor x, string name)
        {
            var mu = x.mean(new long[] { -1 }, keepdim: true);
            var var = (x - mu).pow(2).mean(new long[] { -1 }, keepdim: true);
            return (x - mu) / (var + 1e-5).sqrt() * w[name + ".weight"] + w[name + ".bias"];
        }
        Tensor Conv1D(Tensor x, string name) => x.matmul(w[name + ".weight"]) + w[name + ".bias"];
        Tensor GeluNew(Tensor x) => 0.5 * x * (1 + ((x + 0.044715 * x.pow(3)) * Math.Sqrt(2 / Math.PI)).tanh());

        var x = w["wte.weight"].index_select(0, tokens.reshape(-1)).view(b, l, D) + w["wpe.weight"][..(int)l].unsqueeze(0);
        var causal = ones(l, l, ScalarType.Bool).tril();
        for (int i = 0; i < Layers; i++)
        {
            string p = $"h.{i}.";
            var qkv = Conv1D(Ln(x, p + "ln_1"), p + "attn.c_attn");
            var q = qkv[.., .., ..D].view(b, l, H, hd).transpose(1, 2);
            var k = qkv[.., .., D..(2 * D)].view(b, l, H, hd).transpose(1, 2);
            var v = qkv[.., .., (2 * D)..].view(b, l, H, hd).transpose(1, 2);
            var scores = q.matmul(k.transpose(-1, -2)) / Math.Sqrt(hd);
            scores = scores.masked_fill(causal.logical_not(), double.NegativeInfinity);
            var a = scores.softmax(-1).matmul(v).transpose(1, 2).reshape(b, l, D);
            x = x + Conv1D(a, p + "attn.c_proj");
            x = x + Conv1D(GeluNew(Conv1D(Ln(x, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj");
        }
        var hF = Ln(x, "ln_f");
        return hF.matmul((tied ? w["wte.weight"] : w["lm_head.weight"]).t());
    }

    [Theory]
    [InlineData(true, false)]  // the hub's gpt2 file: no prefix, tied head
    [InlineData(false, true)]  // GPT2LMHeadModel.save_pretrained with an untied head: transformer. prefix + lm_head
    public void LoadsHfGpt2FolderAndMatchesHandWrittenForward(bool tied, bool prefixed)
    {
        using var scope = NewDisposeScope();
        var w = WriteHfFolder(_dir, tied, prefixed);
        using var model = GptModelFolder.Load(_dir);
        Assert.Equal(new GptConfig(D, H, Layers, Positions, Vocab, tied), model.Config);
        var tokens = tensor(new long[] { 5, 17, 96, 0, 42, 42, 3, 88, 1, 2, 60, 61, 62, 7, 9, 11 }).view(2, 8);
        var expected = ReferenceLogits(w, tokens, tied);
        var actual = model.Forward(tokens);
        Assert.Equal(new long[] { 2, 8, Vocab }, actual.shape);
        // fp32 model vs float64 reference; logits are O(10) here, so 1e-4 is ~1e-5 relative
        Assert.True(Golden.MaxAbsDiff(actual, expected) < 1e-4, $"max |Δ| = {Golden.MaxAbsDiff(actual, expected)}");
        // scoring and features agree with the same reference
        var logp = expected.log_softmax(-1)[.., ..^1].gather(2, tokens[.., 1..].unsqueeze(2)).squeeze(2);
        Assert.True(Golden.MaxAbsDiff(model.TokenLogProbs(tokens, chunkRows: 5), logp) < 1e-4);
        Assert.Equal(new long[] { 2, 8, D }, model.Features(tokens).shape);
        Assert.True(Math.Abs(model.Loss(tokens).item<float>() + logp.mean().item<double>()) < 1e-4);
    }

    [Fact]
    public void SaveWritesHfLayoutAndRoundTrips()
    {
        using var scope = NewDisposeScope();
        var w = WriteHfFolder(_dir, tied: false, prefixed: false);
        using var model = GptModelFolder.Load(_dir);
        var outDir = Path.Combine(_dir, "saved");
        GptModelFolder.Save(outDir, model);
        using (var f = new SafeTensorsFile(Path.Combine(outDir, "model.safetensors")))
        {
            Assert.Equal(new long[] { D, 3 * D }, f.Entries["transformer.h.0.attn.c_attn.weight"].Shape);
            Assert.Equal(new long[] { 4 * D, D }, f.Entries["transformer.h.1.mlp.c_proj.weight"].Shape);
            Assert.Contains("lm_head.weight", f.Entries.Keys);
            // the square c_proj must be written back in Conv1D orientation, i.e. equal to the original file's tensor
            Assert.True(f.Load("transformer.h.0.attn.c_proj.weight").to(ScalarType.Float64).EqualTo(w["h.0.attn.c_proj.weight"]));
        }
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")))!;
        Assert.Equal("gpt2", json["model_type"]!.GetValue<string>());
        Assert.Equal(D, json["n_embd"]!.GetValue<int>());
        using var again = GptModelFolder.Load(outDir);
        Assert.Equal(model.Config, again.Config);
        var a = model.state_dict();
        foreach (var (k, v) in again.state_dict()) Assert.True(v.EqualTo(a[k]), k);
    }

    [Fact]
    public void MissingTensorIsOneClearError()
    {
        WriteHfFolder(_dir, tied: false, prefixed: false);
        // the config says untied, but the file loses its lm_head
        List<KeyValuePair<string, Tensor>> keep;
        using (var f = new SafeTensorsFile(Path.Combine(_dir, "model.safetensors")))
            keep = f.Entries.Keys.Where(k => k != "lm_head.weight").Select(k => new KeyValuePair<string, Tensor>(k, f.Load(k))).ToList();
        SafeTensorsWriter.Write(Path.Combine(_dir, "model.safetensors"), keep);
        var e = Assert.Throws<SdttException>(() => GptModelFolder.Load(_dir));
        Assert.Contains("lm_head.weight", e.Message);
    }

    [Fact]
    public void ConfigCountsJsonAndPresets()
    {
        TorchRuntime.EnsureLoaded();
        Assert.Equal(124_439_808L, GptConfig.Small.ParameterCount); // GPT-2 small
        foreach (var cfg in new[] { new GptConfig(D, H, Layers, Positions, Vocab), new GptConfig(D, H, 3, Positions, Vocab, TieWordEmbeddings: false) })
        {
            using var m = new GptModel(cfg);
            Assert.Equal(cfg.ParameterCount, m.parameters().Sum(p => p.numel()));
            Assert.Equal(cfg, GptConfig.FromJson(cfg.ToJson().ToJsonString()));
        }
        Assert.Equal(new GptConfig(2048, 16, 24), GptConfig.FromName("xl"));
        Assert.Equal(new GptConfig(2048, 16, 21), GptConfig.FromName("1.3b")); // the DiT 1.3B shape: same table
        Assert.Throws<SdttException>(() => GptConfig.FromJson("{\"model_type\":\"mdlm\",\"n_embd\":8,\"n_head\":2,\"n_layer\":1}"));
        Assert.Throws<SdttException>(() => GptConfig.FromJson("{\"n_embd\":10,\"n_head\":3,\"n_layer\":1}"));
    }
}
