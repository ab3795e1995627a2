using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.IO;
using Sdtt.Training;

namespace Sdtt.Distillation;

/// <summary>The run folder of a multi-round distillation beside what the trainer writes: the resolved config and the
/// run's inputs (for <c>--resume</c>), one metrics record per finished round and the plots (loss with round
/// boundaries, and per-round judge metrics).</summary>
public sealed class DistillationRun
{
    /// <summary>Resolved config written into the run folder.</summary>
    public const string ResolvedConfigFile = "distill_config.json";
    /// <summary>Paths of the run (teacher, data), for resuming without repeating them.</summary>
    public const string RunFile = "distill_run.json";
    /// <summary>The loss plot with round boundaries.</summary>
    public const string PlotFile = "distill.png";
    /// <summary>Per-round judge metrics (only when rounds are judged).</summary>
    public const string RoundsPlotFile = "rounds.png";
    /// <summary>The folder of the per-round student model folders.</summary>
    public const string RoundsDirName = "rounds";

    /// <summary>A run in <paramref name="dir"/> with its schedule and divergence (for the plots).</summary>
    public DistillationRun(string dir, SdttSchedule schedule, DivergenceKind divergence)
    {
        Dir = dir;
        Schedule = schedule;
        Divergence = divergence;
        Metrics = new MetricsLog(Path.Combine(dir, Trainer.MetricsFile));
    }

    /// <summary>The run folder.</summary>
    public string Dir { get; }
    /// <summary>The round schedule.</summary>
    public SdttSchedule Schedule { get; }
    /// <summary>The student/teacher divergence.</summary>
    public DivergenceKind Divergence { get; }
    /// <summary>The run's metrics log (shared with the trainer).</summary>
    public MetricsLog Metrics { get; }
    /// <summary>The folder of the per-round student model folders.</summary>
    public string RoundsDir => Path.Combine(Dir, RoundsDirName);

    /// <summary>The teacher and data folders recorded by an earlier start of the run in <paramref name="dir"/>
    /// (nulls where the file or the entry is missing).</summary>
    public static (string? Teacher, string? Data) ReadInputs(string dir)
    {
        var path = Path.Combine(dir, RunFile);
        if (!File.Exists(path)) return (null, null);
        try
        {
            var run = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            return (run["teacher"]?.GetValue<string>(), run["data"]?.GetValue<string>());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException)
        { throw new SdttException($"{path}: not valid JSON ({e.Message})"); }
    }

    /// <summary>Writes the resolved config and the run's inputs (absolute paths), each atomically.</summary>
    public void WriteStart(DistillConfig config, string teacherDir, string dataDir)
    {
        ModelFolder.WriteJsonAtomic(Path.Combine(Dir, ResolvedConfigFile), config.ToJson());
        ModelFolder.WriteJsonAtomic(Path.Combine(Dir, RunFile), new JsonObject
        {
            ["teacher"] = Path.GetFullPath(teacherDir), ["data"] = Path.GetFullPath(dataDir),
        });
    }

    /// <summary>Appends a "round" record for <paramref name="round"/> (round, teacher and student steps, then
    /// <paramref name="judged"/> metrics) and redraws the plots. Returns a warning when a plot could not be written.</summary>
    public string? RecordRound(FinishedRound round, IEnumerable<KeyValuePair<string, double>>? judged = null)
    {
        var values = new List<KeyValuePair<string, double>>
        {
            new("round", round.Round), new("teacher_steps", round.TeacherSteps), new("student_steps", round.StudentSteps),
        };
        if (judged is not null) values.AddRange(judged);
        Metrics.Append(round.GlobalStep, "round", values);
        return TryPlot();
    }

    /// <summary>Redraws the loss plot and the per-round plot. Returns a warning instead of failing the run when a plot
    /// cannot be written (the metrics stay intact).</summary>
    public string? TryPlot()
    {
        try
        {
            DistillationPlot.Write(Metrics, Path.Combine(Dir, PlotFile), Schedule, Distillation.Divergence.Name(Divergence));
            DistillationPlot.WriteRounds(Metrics, Path.Combine(Dir, RoundsPlotFile));
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException) { return $"plot not written ({e.Message})"; }
    }

    /// <summary>The per-round student folders written so far, in order.</summary>
    public IReadOnlyList<string> RoundFolders() =>
        Directory.Exists(RoundsDir) ? Directory.GetDirectories(RoundsDir).Order().ToList() : Array.Empty<string>();
}
