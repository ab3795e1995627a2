using ScottPlot;
using Sdtt.IO;

namespace Sdtt.Training;

/// <summary>Draws <c>loss.png</c>: the training loss and the headline validation metric against the optimizer step.</summary>
public static class LossCurvePlot
{
    /// <summary>Writes the plot from a metrics log (atomic). <paramref name="validKey"/> names the validation metric drawn.</summary>
    public static void Write(MetricsLog log, string pngPath, string validKey = "nll", string trainKey = "loss", string title = "training")
    {
        var records = log.Read();
        var train = MetricsLog.Series(records, "train", trainKey);
        var valid = MetricsLog.Series(records, "valid", validKey);
        var plt = new Plot();
        if (train.Count > 0)
        {
            var s = plt.Add.Scatter(train.Select(p => p.Step).ToArray(), train.Select(p => p.Value).ToArray());
            s.LegendText = $"train {trainKey}";
            s.MarkerSize = train.Count > 50 ? 0 : 3;
        }
        if (valid.Count > 0)
        {
            var s = plt.Add.Scatter(valid.Select(p => p.Step).ToArray(), valid.Select(p => p.Value).ToArray());
            s.LegendText = $"validation {validKey} (EMA)";
            s.MarkerSize = 6;
            s.LineWidth = 2;
        }
        plt.Title(title);
        plt.XLabel("optimizer step");
        plt.YLabel("loss (nats / token)");
        if (train.Count + valid.Count > 0) plt.ShowLegend();
        AtomicFile.SavePng(plt, pngPath, 900, 550);
    }
}
