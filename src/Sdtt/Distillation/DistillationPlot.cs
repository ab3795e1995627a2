using ScottPlot;
using Sdtt.Training;
using Sdtt.IO;

namespace Sdtt.Distillation;

/// <summary>Draws the distillation curve: training loss (and validation distillation loss, EMA) against the optimizer step,
/// with a dashed vertical line at every round boundary labelled with the next student's step count.</summary>
public static class DistillationPlot
{
    /// <summary>Writes the PNG atomically from the run's metrics log.</summary>
    public static void Write(MetricsLog log, string pngPath, SdttSchedule schedule, string divergence)
    {
        var plt = new Plot();
        var (train, valid) = LossCurvePlot.AddLossSeries(plt, log.Read(), "loss", "distill_loss", $"train {divergence}", $"valid {divergence} (EMA)");
        double lastStep = train.Count > 0 ? train[^1].Step : 0;
        for (int r = 1; r < schedule.Rounds && r * schedule.StepsPerRound <= Math.Max(lastStep, 1); r++)
        {
            var line = plt.Add.VerticalLine(r * schedule.StepsPerRound);
            line.LinePattern = LinePattern.Dashed;
            line.Color = Colors.Gray;
            line.Text = $"→ {schedule.StudentStepsAt(r)} steps";
        }
        plt.Title($"SDTT: {schedule.TeacherSteps}-step teacher, k = {schedule.K}, {schedule.StepsPerRound} steps per round");
        plt.XLabel("optimizer step");
        plt.YLabel($"distillation loss ({divergence})");
        if (train.Count + valid.Count > 0) plt.ShowLegend();
        AtomicFile.SavePng(plt, pngPath, 900, 550);
    }

    /// <summary>When a judge evaluated the rounds: generative perplexity (left axis) and unigram entropy (right axis,
    /// dashed) of each round's student at its own step count, on a log2 step axis. Returns false when there is nothing
    /// to plot.</summary>
    public static bool WriteRounds(MetricsLog log, string pngPath)
    {
        var rounds = log.Read().Where(o => o["kind"]?.GetValue<string>() == "round" && o["gen_ppl"] is not null && o["student_steps"] is not null)
            .Select(o => (Steps: o["student_steps"]!.GetValue<double>(), Ppl: o["gen_ppl"]!.GetValue<double>(), Entropy: o["entropy"]?.GetValue<double>()))
            .OrderBy(r => r.Steps).ToList();
        if (rounds.Count == 0) return false;
        var plt = new Plot();
        var xs = rounds.Select(r => Math.Log2(r.Steps)).ToArray();
        var ppl = plt.Add.Scatter(xs, rounds.Select(r => r.Ppl).ToArray());
        ppl.LegendText = "generative perplexity";
        ppl.MarkerSize = 7;
        var withEntropy = rounds.Where(r => r.Entropy is not null).ToList();
        if (withEntropy.Count > 0)
        {
            var e = plt.Add.Scatter(withEntropy.Select(r => Math.Log2(r.Steps)).ToArray(), withEntropy.Select(r => r.Entropy!.Value).ToArray());
            e.Axes.YAxis = plt.Axes.Right;
            e.LinePattern = LinePattern.Dashed;
            e.LegendText = "unigram entropy (nats)";
            plt.Axes.Right.Label.Text = "unigram entropy (nats, dashed)";
        }
        plt.Axes.Bottom.SetTicks(xs, rounds.Select(r => r.Steps.ToString("0")).ToArray());
        plt.Title("SDTT students at their step counts (judge evaluation after each round)");
        plt.XLabel("sampling steps of the student");
        plt.YLabel("generative perplexity");
        plt.ShowLegend();
        AtomicFile.SavePng(plt, pngPath, 900, 550);
        return true;
    }
}
