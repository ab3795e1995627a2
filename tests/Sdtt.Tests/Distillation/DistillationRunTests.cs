using Sdtt.Data;
using Sdtt.Distillation;
using Sdtt.Tests.Training;

namespace Sdtt.Tests.Distillation;

/// <summary>The library's distillation run folder: resume inputs, the vocabulary check and per-round records.</summary>
public class DistillationRunTests : IDisposable
{
    private readonly TempFolders _tmp = new();
    /// <summary>Removes the test's temporary folders.</summary>
    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void StartRecordsTheInputsAndARoundAppendsOneRecordAndThePlots()
    {
        var dir = _tmp.Track(TrainingFixtures.TempDir("drun"));
        Assert.Equal((null, null), DistillationRun.ReadInputs(dir));
        var run = new DistillationRun(dir, new SdttSchedule(TeacherSteps: 64, StepsPerRound: 2), DivergenceKind.ReverseKl);
        run.WriteStart(DistillConfig.Preset("tiny"), "teacher", "data");
        Assert.Equal((Path.GetFullPath("teacher"), Path.GetFullPath("data")), DistillationRun.ReadInputs(dir));
        Assert.True(File.Exists(Path.Combine(dir, DistillationRun.ResolvedConfigFile)));

        Assert.Null(run.RecordRound(new FinishedRound(1, 64, 32, 2, Path.Combine(dir, "rounds", "round-1-steps-32")),
            new[] { new KeyValuePair<string, double>("gen_ppl", 123.5) }));
        var record = Assert.Single(run.Metrics.Read());
        Assert.Equal("round", record["kind"]?.GetValue<string>());
        Assert.Equal(32, record["student_steps"]!.GetValue<double>());
        Assert.Equal(123.5, record["gen_ppl"]!.GetValue<double>());
        Assert.True(File.Exists(Path.Combine(dir, DistillationRun.PlotFile)));
    }

    [Fact]
    public void BadRunFileAndOutOfVocabularyDataAreOneLineErrors()
    {
        var dir = _tmp.Track(TrainingFixtures.TempDir("drun-bad"));
        File.WriteAllText(Path.Combine(dir, DistillationRun.RunFile), "{ not json");
        var e = Assert.Throws<SdttException>(() => DistillationRun.ReadInputs(dir));
        Assert.StartsWith(Path.Combine(dir, DistillationRun.RunFile) + ": not valid JSON", e.Message);

        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 4, nValid: 2)); // token ids up to 41
        using var train = TokenDataset.Open(data, "train");
        train.RequireVocabulary(43, "the teacher's");
        var v = Assert.Throws<SdttException>(() => train.RequireVocabulary(42, "the teacher's"));
        Assert.Contains("token id 41", v.Message);
    }
}
