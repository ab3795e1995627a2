using System.Globalization;
using Sdtt.Training;

namespace Sdtt.Cli;

/// <summary>Turns a divergence stop into one line that ends with the exact command that recovers: continue from the
/// newest healthy checkpoint (or restart from step 0 when none is healthy) at a lower learning rate.</summary>
internal static class Recovery
{
    /// <summary>The error for <paramref name="e"/>; <paramref name="args"/> are the arguments that locate the run
    /// (--data, --out, …) as the user gave them.</summary>
    public static SdttException Explain(TrainingDivergedException e, string command, params string[] args)
    {
        var lr = e.SuggestedLearningRate.ToString("G2", CultureInfo.InvariantCulture);
        var key = command == "distill" ? "trainer.lr" : "lr";
        var parts = new List<string> { "sdtt", command };
        parts.AddRange(args);
        parts.AddRange(new[] { "--resume-from", (e.HealthyStep ?? 0).ToString(CultureInfo.InvariantCulture), "--set", $"{key}={lr}" });
        return new SdttException($"{e.Message}: {string.Join(' ', parts.Select(Sdtt.Workflows.ShellQuote.Arg))}");
    }
}
