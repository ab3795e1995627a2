using ScottPlot;
using Sdtt.IO;

namespace Sdtt.Training;

/// <summary>Draws <c>loss.png</c>: the training loss and the headline validation metric against the optimizer step.</summary>
public static class LossCurvePlot
{
    /// <summary>Writes the plot from a metrics log (atomic). <paramref name="validKey"/> names the validation metric drawn.</summary>
    public static void Write(MetricsLog log, string pngPath, string validKey = "nll", string trainKey = "loss", string title = "training")
    {
        var plt = new Plot();
        var (train, valid) = AddLossSeries(plt, log.Read(), trainKey, validKey, $"train {trainKey}", $"validation {validKey} (EMA)");
        plt.Title(title);
        plt.XLabel("optimizer step");
        plt.YLabel("loss (nats / token)");
        if (train.Count + valid.Count > 0) plt.ShowLegend();
        AtomicFile.SavePng(plt, pngPath, 900, 550);
    }

    /// <summary>Adds the training series (a line, with markers while it is short) and the validation series (EMA weights,
    /// thicker, with markers) of a metrics log to <paramref name="plt"/>. Returns both series.</summary>
    internal static (List<(double Step, double Value)> Train, List<(double Step, double Value)> Valid) AddLossSeries(Plot plt,
        IReadOnlyList<System.Text.Json.Nodes.JsonObject> records, string trainKey, string validKey, string trainLabel, string validLabel)
    {
        var train = MetricsLog.Series(records, "train", trainKey);
        var valid = MetricsLog.Series(records, "valid", validKey);
        if (train.Count > 0)
        {
            var s = plt.Add.Scatter(train.Select(p => p.Step).ToArray(), train.Select(p => p.Value).ToArray());
            s.LegendText = trainLabel;
            s.MarkerSize = train.Count > 50 ? 0 : 3;
        }
        if (valid.Count > 0)
        {
            var s = plt.Add.Scatter(valid.Select(p => p.Step).ToArray(), valid.Select(p => p.Value).ToArray());
            s.LegendText = validLabel;
            s.MarkerSize = 6;
            s.LineWidth = 2;
        }
        return (train, valid);
    }
}
