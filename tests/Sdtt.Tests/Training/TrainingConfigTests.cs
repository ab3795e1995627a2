using System.Text.Json.Nodes;
using Sdtt.Training;

namespace Sdtt.Tests.Training;

/// <summary>Shipped training configs and <c>--set key=value</c> overrides.</summary>
public class TrainingConfigTests : IDisposable
{
    private readonly TempFolders _tmp = new();
    /// <summary>Removes the test's temporary folders, also when an assertion failed.</summary>
    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void SetOverridesTypedFieldsByBareOrDottedName()
    {
        var c = TrainingConfig.Load("tiny", new[] { "max_steps=60", "model.n_blocks=3", "trainer.lr=2e-3", "bf16=true", "time_sampling=lattice", "dropout=0" });
        Assert.Equal(60, c.Trainer.MaxSteps);
        Assert.Equal(3, c.Model.NBlocks);
        Assert.Equal(2e-3, c.Trainer.Lr);
        Assert.True(c.Trainer.Bf16);
        Assert.Equal(Sdtt.Diffusion.TimeSampling.Lattice, c.Mdlm.TimeSampling);
        Assert.Equal(0, c.Model.Dropout);
        Assert.Equal(64, c.Model.HiddenSize); // untouched fields keep the preset's values
        var e = Assert.Throws<SdttException>(() => TrainingConfig.Load("tiny", new[] { "max_stepz=3" }));
        Assert.Contains("did you mean trainer.max_steps", e.Message);
    }

    [Theory]
    [InlineData("max_stepz=3", "unknown key")]
    [InlineData("model.n_layers=3", "unknown key")]
    [InlineData("max_steps=abc", "expected a number")]
    [InlineData("max_steps=1.5", "max_steps")]
    [InlineData("bf16=yes", "expected true or false")]
    [InlineData("model.n_blocks=2.5", "model.n_blocks must be an integer")]
    [InlineData("novalue", "expected key=value")]
    [InlineData("global_batch=12", "global_batch")]
    [InlineData("time_sampling=sometimes", "time_sampling")]
    public void BadOverridesGiveOneClearLine(string set, string expected)
    {
        var e = Assert.Throws<SdttException>(() => TrainingConfig.Load("tiny", new[] { set }));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void PresetsRoundTripAndPaperValuesHold()
    {
        foreach (var name in TrainingConfig.PresetNames)
        {
            var c = TrainingConfig.Preset(name);
            var back = TrainingConfig.FromJson(c.ToJson());
            Assert.Equal(c, back);
        }
        var small = TrainingConfig.Preset("small");
        Assert.Equal((3e-4, 2500, 1_000_000L, 512, 0.9999, 1.0), (small.Trainer.Lr, small.Trainer.WarmupSteps, small.Trainer.MaxSteps, small.Trainer.GlobalBatch, small.Trainer.EmaDecay, small.Trainer.GradClip));
        Assert.Equal((0.9, 0.999, 1e-8, 0.0), (small.Trainer.Beta1, small.Trainer.Beta2, small.Trainer.AdamEps, small.Trainer.WeightDecay));
        Assert.Equal(1024, small.Model.ModelLength);
        Assert.Equal(169_627_218, small.Model.ParameterCount);
        Assert.Throws<SdttException>(() => TrainingConfig.Preset("huge"));
    }

    [Fact]
    public void ShippedJsonFilesMatchThePresets()
    {
        var dir = FindRepoFile("configs/train");
        foreach (var name in TrainingConfig.PresetNames)
        {
            var file = Path.Combine(dir, name + ".json");
            Assert.True(File.Exists(file), file);
            Assert.Equal(TrainingConfig.Preset(name), TrainingConfig.Load(file));
        }
    }

    [Fact]
    public void PartialJsonFileFillsDefaultsAndRejectsUnknownKeys()
    {
        var dir = _tmp.Track(TrainingFixtures.TempDir("cfg"));
        var ok = Path.Combine(dir, "ok.json");
        File.WriteAllText(ok, """{"model": {"n_blocks": 1}, "trainer": {"max_steps": 7}}""");
        var c = TrainingConfig.Load(ok, new[] { "lr=0.01" });
        Assert.Equal((1, 7L, 0.01), (c.Model.NBlocks, c.Trainer.MaxSteps, c.Trainer.Lr));
        var bad = Path.Combine(dir, "bad.json");
        File.WriteAllText(bad, """{"trainer": {"max_step": 7}}""");
        var e = Assert.Throws<SdttException>(() => TrainingConfig.Load(bad));
        Assert.Contains("trainer.max_step", e.Message);
    }

    private static string FindRepoFile(string rel)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (Directory.Exists(Path.Combine(d.FullName, rel))) return Path.Combine(d.FullName, rel);
        throw new DirectoryNotFoundException(rel);
    }

    [Fact]
    public void EpsSettingsKeepTheirJsonKeys()
    {
        // The C# names say which ε each is (AdamEps, TimeEps, GridEps); config files written before keep loading.
        var train = TrainingConfig.Preset("tiny").ToJson();
        Assert.Equal(1e-8, train["trainer"]!["eps"]!.GetValue<double>());
        Assert.Equal(1e-3, train["mdlm"]!["sampling_eps"]!.GetValue<double>());
        var distill = Sdtt.Distillation.DistillConfig.Preset("tiny").ToJson();
        Assert.Equal(1e-5, distill["rounds"]!["sampling_eps"]!.GetValue<double>());
        Assert.Equal(1e-5, distill["sdtt"]!["sampling_eps"]!.GetValue<double>());
        var loaded = TrainingConfig.Load("tiny", new[] { "trainer.eps=1e-6", "mdlm.sampling_eps=0.01" });
        Assert.Equal((1e-6, 0.01), (loaded.Trainer.AdamEps, loaded.Mdlm.TimeEps));
        var d = Sdtt.Distillation.DistillConfig.Load("tiny", new[] { "rounds.sampling_eps=1e-4", "sdtt.sampling_eps=1e-3" });
        Assert.Equal((1e-4, 1e-3), (d.Rounds.GridEps, d.Sdtt.TimeEps));
    }

    [Fact]
    public void TeacherRolloutIsRevealFirstExceptInTheReferenceConfig()
    {
        Assert.Equal(Sdtt.Distillation.TeacherRollout.RevealFirst, Sdtt.Distillation.DistillConfig.Load("tiny").Sdtt.Rollout);
        Assert.Equal(Sdtt.Distillation.TeacherRollout.Reference, Sdtt.Distillation.DistillConfig.Load("reference").Sdtt.Rollout);
        Assert.Equal("reveal-first", Sdtt.Distillation.DistillConfig.Preset("demo").ToJson()["sdtt"]!["rollout"]!.GetValue<string>());
        var r = Sdtt.Distillation.DistillConfig.Load("tiny", new[] { "sdtt.rollout=reference", "sdtt.draw_precision=float64" });
        Assert.Equal((Sdtt.Distillation.TeacherRollout.Reference, Sdtt.Sampling.CategoricalPrecision.Float64), (r.Sdtt.Rollout, r.Sdtt.DrawPrecision));
        // The draw precision belongs to the reference race; reveal-first always inverts the float64 CDF.
        var e = Assert.Throws<SdttException>(() => Sdtt.Distillation.DistillConfig.Load("tiny", new[] { "sdtt.draw_precision=float64" }));
        Assert.Contains("sdtt.rollout=reference", e.Message);
        e = Assert.Throws<SdttException>(() => Sdtt.Distillation.DistillConfig.Load("tiny", new[] { "sdtt.rollout=fast" }));
        Assert.Contains("reveal-first or reference", e.Message);
    }
}
