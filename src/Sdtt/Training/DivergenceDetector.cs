using System.Globalization;
using System.Text.Json.Nodes;

namespace Sdtt.Training;

/// <summary>Decides whether an optimizer step has diverged, from its training loss and (pre-clipping) gradient norm,
/// both measured on the weights the step starts from — the weights of the previous checkpoint, if one was just written.
/// A step diverges when
/// <list type="bullet">
/// <item>its loss or gradient norm is NaN or infinite; or</item>
/// <item>its loss exceeds <see cref="LossFactor"/> × max(level, <see cref="LossFloor"/>), the level being the median loss
/// of the last <see cref="Window"/> healthy steps (from the second step on); or</item>
/// <item>its gradient norm exceeds <see cref="GradFactor"/> × max(level, <see cref="GradFloor"/>), the level being the
/// median of the last <see cref="Window"/> healthy gradient norms, once <see cref="GradMinHistory"/> healthy steps have
/// been seen.</item>
/// </list>
/// The factors sit far above normal noise (a tiny MDLM run's loss stays within 1.6× and its gradient norm within 4× of
/// their medians), so only a run that has left its trajectory stops. The history is saved in checkpoints, so a resumed
/// run judges with the same level.</summary>
public sealed class DivergenceDetector
{
    /// <summary>Healthy steps the running levels are the median of.</summary>
    public const int Window = 50;
    /// <summary>A loss above this multiple of its running level (or of the floor) is a divergence.</summary>
    public const double LossFactor = 10;
    /// <summary>Lower bound of the loss level (nats), so near-zero losses (a student that matches its teacher) can rise.</summary>
    public const double LossFloor = 1.0;
    /// <summary>A gradient norm above this multiple of its running level is a divergence.</summary>
    public const double GradFactor = 100;
    /// <summary>Lower bound of the gradient-norm level: a converged run's gradients are tiny and spike by 100× and more
    /// without harm (a toy run at level 0.07 saw 26), and clipping (default 1) bounds such updates anyway.</summary>
    public const double GradFloor = 1.0;
    /// <summary>Healthy steps needed before gradient norms are judged (early gradients grow as the output layer leaves 0).</summary>
    public const int GradMinHistory = 5;

    private readonly Queue<double> _losses = new();
    private readonly Queue<double> _grads = new();

    /// <summary>Median loss of the recent healthy steps, or null before the first.</summary>
    public double? LossLevel => Median(_losses);
    /// <summary>Median gradient norm of the recent healthy steps, or null before the first.</summary>
    public double? GradLevel => Median(_grads);

    /// <summary>Null when the step is healthy, else why it diverged (one clause, e.g. "loss 6.6E+11 is above 10 × its
    /// running level 10.4").</summary>
    public string? Check(double loss, double gradNorm)
    {
        if (!double.IsFinite(loss)) return $"loss is {Describe(loss)}";
        if (!double.IsFinite(gradNorm)) return $"gradient norm is {Describe(gradNorm)}";
        if (LossLevel is { } l && loss > LossFactor * Math.Max(l, LossFloor))
            return $"loss {G(loss)} is above {LossFactor:0} × its running level {G(Math.Max(l, LossFloor))}";
        if (_grads.Count >= GradMinHistory && GradLevel is { } g && gradNorm > GradFactor * Math.Max(g, GradFloor))
            return $"gradient norm {G(gradNorm)} is above {GradFactor:0} × its running level {G(Math.Max(g, GradFloor))}";
        return null;
    }

    /// <summary>Records a healthy step.</summary>
    public void Accept(double loss, double gradNorm)
    {
        Push(_losses, loss);
        Push(_grads, gradNorm);
    }

    /// <summary>The history, for a checkpoint.</summary>
    public JsonObject ToJson() => new()
    {
        ["losses"] = new JsonArray(_losses.Select(v => (JsonNode?)v).ToArray()),
        ["grad_norms"] = new JsonArray(_grads.Select(v => (JsonNode?)v).ToArray()),
    };

    /// <summary>Restores <see cref="ToJson"/>'s output (a missing or malformed section gives an empty history).</summary>
    public static DivergenceDetector FromJson(JsonNode? node)
    {
        var d = new DivergenceDetector();
        try
        {
            foreach (var v in node?["losses"]?.AsArray() ?? new JsonArray()) Push(d._losses, v!.GetValue<double>());
            foreach (var v in node?["grad_norms"]?.AsArray() ?? new JsonArray()) Push(d._grads, v!.GetValue<double>());
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            return new DivergenceDetector();
        }
        return d;
    }

    private static void Push(Queue<double> q, double v)
    {
        q.Enqueue(v);
        while (q.Count > Window) q.Dequeue();
    }

    private static double? Median(Queue<double> q)
    {
        if (q.Count == 0) return null;
        var s = q.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    private static string Describe(double v) => double.IsNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
    private static string G(double v) => v.ToString("G3", CultureInfo.InvariantCulture);
}
