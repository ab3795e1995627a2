using ScottPlot;
using Sdtt.Training;

namespace Sdtt.Distillation;

/// <summary>Draws the distillation curve: training loss (and validation distillation loss, EMA) against the optimizer step,
/// with a dashed vertical line at every round boundary labelled with the next student's step count.</summary>
public static class DistillationPlot
{
    /// <summary>Writes the PNG atomically from the run's metrics log.</summary>
    public static void Write(MetricsLog log, string pngPath, SdttSchedule schedule, string divergence)
    {
        var records = log.Read();
        var train = MetricsLog.Series(records, "train", "loss");
        var valid = MetricsLog.Series(records, "valid", "distill_loss");
        var plt = new Plot();
        if (train.Count > 0)
        {
            var s = plt.Add.Scatter(train.Select(p => p.Step).ToArray(), train.Select(p => p.Value).ToArray());
            s.LegendText = $"train {divergence}";
            s.MarkerSize = train.Count > 50 ? 0 : 3;
        }
        if (valid.Count > 0)
        {
            var s = plt.Add.Scatter(valid.Select(p => p.Step).ToArray(), valid.Select(p => p.Value).ToArray());
            s.LegendText = $"valid {divergence} (EMA)";
            s.MarkerSize = 6;
            s.LineWidth = 2;
        }
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
        var tmp = pngPath + ".tmp.png";
        plt.SavePng(tmp, 900, 550);
        File.Move(tmp, pngPath, overwrite: true);
    }
}
