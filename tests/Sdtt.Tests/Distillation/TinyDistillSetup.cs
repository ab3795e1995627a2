using Sdtt.Data;
using Sdtt.Distillation;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using static TorchSharp.torch;

namespace Sdtt.Tests.Distillation;

/// <summary>A tiny teacher (vocab 64, D 32, 1 block, L 16) with random non-zero weights, and a small patterned dataset.</summary>
internal sealed class TinyDistillSetup : IDisposable
{
    public static readonly DitConfig Config = new(32, 2, 1, CondDim: 16, VocabSize: 64, ModelLength: 16, Dropout: 0.1);
    public string Root { get; }
    public string TeacherDir => Path.Combine(Root, "teacher");
    public string DataDir => Path.Combine(Root, "data");

    public TinyDistillSetup()
    {
        TorchRuntime.EnsureLoaded();
        Root = Path.Combine(Path.GetTempPath(), "sdtt-distill-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(DataDir);
        manual_seed(11);
        using (var teacher = new Dit(Config))
        {
            using (no_grad())
                foreach (var p in teacher.parameters()) p.add_(randn_like(p) * 0.3);
            ModelFolder.SaveDit(TeacherDir, teacher);
        }
        var rng = new Random(5);
        int[] Seq()
        {
            int a = rng.Next(62), d = 1 + rng.Next(3);
            return Enumerable.Range(0, 16).Select(i => (a + d * i) % 62).ToArray();
        }
        TokenDataset.Write(Path.Combine(DataDir, "train.bin"), Enumerable.Range(0, 64).Select(_ => Seq()).ToList(), 16);
        TokenDataset.Write(Path.Combine(DataDir, "valid.bin"), Enumerable.Range(0, 16).Select(_ => Seq()).ToList(), 16);
        File.WriteAllText(Path.Combine(DataDir, TokenDataset.ManifestFile),
            "{\"seq_len\": 16, \"splits\": {\"train\": {\"file\": \"train.bin\"}, \"valid\": {\"file\": \"valid.bin\"}}}");
    }

    /// <summary>Teacher and student loaded from the teacher folder.</summary>
    public (Dit Student, Dit Teacher) Models() => (ModelFolder.LoadDit(TeacherDir), ModelFolder.LoadDit(TeacherDir));

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}
