using Sdtt.Evaluation;
using Sdtt.Training;

namespace Sdtt.Workflows;

/// <summary>One stage of a <see cref="PipelineRun"/>.</summary>
/// <param name="Number">1-based position in the run.</param>
/// <param name="Title">What it does.</param>
/// <param name="CommandLine">The <c>sdtt</c> command that runs this stage alone.</param>
/// <param name="ResumeNote">Set when the stage continues from a checkpoint of an interrupted run.</param>
public sealed record PipelineStage(int Number, string Title, string CommandLine, string? ResumeNote = null);

/// <summary>Where a <see cref="PipelineRun"/> reports and how it runs its long jobs: the CLI shows progress bars, a library
/// user or a test can take <see cref="PlainPipelineHost"/>.</summary>
public interface IPipelineHost
{
    /// <summary>A stage begins.</summary>
    void StageStarting(PipelineStage stage);
    /// <summary>A stage was found done (<paramref name="marker"/> exists) and is skipped.</summary>
    void StageSkipped(PipelineStage stage, string marker);
    /// <summary>A stage finished.</summary>
    void StageFinished(PipelineStage stage, TimeSpan elapsed);
    /// <summary>A line worth showing (the machine, the pilot's sizing, a sample).</summary>
    void Note(string line);
    /// <summary>Runs a prepared pre-training job (with whatever progress display the host has).</summary>
    TrainingResult Train(TrainingJob job);
    /// <summary>Runs a prepared distillation job.</summary>
    DistillationJobResult Distill(DistillationJob job);
    /// <summary>Runs one evaluation, given a progress factory (label, total) → tick.</summary>
    EvalReport Evaluate(Func<Func<string, long, Action<int>>?, EvalReport> evaluation);
}

/// <summary>Plain lines on a <see cref="TextWriter"/> (stderr by default); training progress every log_every steps.</summary>
public sealed class PlainPipelineHost(TextWriter? writer = null) : IPipelineHost
{
    private readonly TextWriter _w = writer ?? Console.Error;

    /// <inheritdoc />
    public void StageStarting(PipelineStage stage)
    {
        _w.WriteLine($"stage {stage.Number}: {stage.Title}");
        if (stage.ResumeNote is not null) _w.WriteLine(stage.ResumeNote);
        _w.WriteLine($"$ {stage.CommandLine}");
    }

    /// <inheritdoc />
    public void StageSkipped(PipelineStage stage, string marker) => _w.WriteLine($"stage {stage.Number}: {stage.Title} — already done ({marker}), skipped");

    /// <inheritdoc />
    public void StageFinished(PipelineStage stage, TimeSpan elapsed) => _w.WriteLine($"stage {stage.Number} done in {elapsed.TotalSeconds:F1} s");

    /// <inheritdoc />
    public void Note(string line) => _w.WriteLine(line);

    /// <inheritdoc />
    public TrainingResult Train(TrainingJob job) => job.Run(new Lines(_w, job.Config.Trainer.LogEvery));

    /// <inheritdoc />
    public DistillationJobResult Distill(DistillationJob job)
    {
        job.Log ??= _w.WriteLine;
        return job.Run(new Lines(_w, job.Config.Trainer.LogEvery));
    }

    /// <inheritdoc />
    public EvalReport Evaluate(Func<Func<string, long, Action<int>>?, EvalReport> evaluation) => evaluation(null);

    private sealed class Lines(TextWriter w, long every) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Message is not null) w.WriteLine(p.Message);
            else if (p.Step > 0 && !double.IsNaN(p.Loss) && (p.Step % every == 0 || p.Step == p.MaxSteps))
                w.WriteLine($"step {p.Step}/{p.MaxSteps} loss {p.Loss:F4} {p.TokensPerSecond:N0} tok/s" + (p.Eta is { } e ? $" ETA {Durations.Format(e)}" : ""));
        }
    }
}
