using Sdtt.Data;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Tests.Sampling;

namespace Sdtt.Tests.Serving;

/// <summary>Tiny untrained model folders for the serving tests: a random DiT (GPT-2 vocabulary + MASK, context 64) and a
/// GPT of the same vocabulary (context 128), written once per test class to a temp folder.</summary>
public sealed class ServingModels : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "sdtt-serving-test-" + Guid.NewGuid().ToString("N")[..8]);
    public string DitDir => Path.Combine(Root, "dit");
    public string GptDir => Path.Combine(Root, "gpt");
    public const int DitLength = 64;

    public ServingModels()
    {
        TorchRuntime.EnsureLoaded();
        using (var dit = SamplerTestModels.RandomDit(Gpt2Tokenizer.ModelVocabSize, DitLength, seed: 3, hidden: 32, blocks: 1))
            ModelFolder.SaveDit(DitDir, dit);
        using (var gpt = new GptModel(GptConfig.Tiny with { NPositions = 128 }))
            GptModelFolder.Save(GptDir, gpt);
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}
