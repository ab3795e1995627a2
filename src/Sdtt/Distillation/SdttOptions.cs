using System.Globalization;
using System.Text.Json.Nodes;
using Sdtt.Sampling;

namespace Sdtt.Distillation;

/// <summary>Options of SDTT distillation besides the round schedule and the optimiser.</summary>
/// <param name="Loss">Divergence between student and teacher targets (reverse KL, the paper's "KLD", by default).</param>
/// <param name="Grid">Teacher time grid (the paper's by default; the released code's as an option).</param>
/// <param name="DrawPrecision">Precision of the teacher's categorical draws (float32 as the reference).</param>
/// <param name="StoreTargetsBf16">Keep the teacher target rows in bfloat16.</param>
/// <param name="LossFloat64">Compute the divergence in float64 (the reference's loss_precision "64").</param>
/// <param name="ResetOptimizerOnGrowth">Fresh optimizer state at every round transition (reference option, off).</param>
/// <param name="UseEmaOnGrowth">At a transition, copy the EMA into student and teacher and restart the EMA (reference option, off).</param>
/// <param name="TimeEps">Floor ε of the training time draw t = (1 − ε) u + ε (SDTT: 1e-5; JSON key <c>sdtt.sampling_eps</c>).</param>
/// <param name="Rollout">How the teacher rollout draws: reveal-first (default; the same distribution with the output layer
/// only where a target or a token needs it) or the reference's exponential race (the "reference" config).</param>
public sealed record SdttOptions(
    DivergenceKind Loss = DivergenceKind.ReverseKl, TeacherGrid Grid = TeacherGrid.Intended,
    CategoricalPrecision DrawPrecision = CategoricalPrecision.Float32, bool StoreTargetsBf16 = false, bool LossFloat64 = false,
    bool ResetOptimizerOnGrowth = false, bool UseEmaOnGrowth = false, double TimeEps = 1e-5, TeacherRollout Rollout = TeacherRollout.RevealFirst)
{
    /// <summary>The rollout options for a schedule with k sub-steps.</summary>
    public TeacherTargetOptions Targets(int k) => new(k, Grid, DrawPrecision, StoreTargetsBf16, Rollout: Rollout);

    /// <summary>reveal-first or reference; a one-line error naming <paramref name="what"/> otherwise.</summary>
    public static TeacherRollout ParseRollout(string value, string what) => value.Trim().ToLowerInvariant() switch
    {
        "reveal-first" or "reveal_first" => TeacherRollout.RevealFirst,
        "reference" or "ancestral" => TeacherRollout.Reference,
        var x => throw new SdttException($"{what} '{x}' must be reveal-first or reference"),
    };

    /// <summary>JSON / command-line name of a rollout.</summary>
    public static string RolloutName(TeacherRollout r) => r == TeacherRollout.Reference ? "reference" : "reveal-first";

    /// <summary>As JSON (snake_case keys, names as on the command line).</summary>
    public JsonObject ToJson() => new()
    {
        ["loss"] = Divergence.Name(Loss),
        ["grid"] = TeacherTimeGrid.Name(Grid),
        ["draw_precision"] = DrawPrecision == CategoricalPrecision.Float64 ? "float64" : "float32",
        ["store_targets_bf16"] = StoreTargetsBf16,
        ["loss_float64"] = LossFloat64,
        ["reset_optimizer_on_growth"] = ResetOptimizerOnGrowth,
        ["use_ema_on_growth"] = UseEmaOnGrowth,
        ["sampling_eps"] = TimeEps,
        ["rollout"] = RolloutName(Rollout),
    };

    /// <summary>Reads what <see cref="ToJson"/> writes; missing keys keep the defaults, unknown keys are an error.</summary>
    public static SdttOptions FromJson(JsonObject o, string source)
    {
        var d = new SdttOptions();
        foreach (var (k, v) in o)
        {
            string S() => v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : throw new SdttException($"{source}: sdtt.{k} must be text");
            bool B() => v is JsonValue jv && jv.TryGetValue<bool>(out var b) ? b : throw new SdttException($"{source}: sdtt.{k} must be true or false");
            double N() => SdttScheduleJson.Number(v) ?? throw new SdttException($"{source}: sdtt.{k} must be a number");
            d = k switch
            {
                "loss" => d with { Loss = Divergence.Parse(S()) },
                "grid" => d with { Grid = TeacherTimeGrid.Parse(S()) },
                "draw_precision" => d with
                {
                    DrawPrecision = S().ToLowerInvariant() switch
                    {
                        "float32" or "f32" => CategoricalPrecision.Float32,
                        "float64" or "f64" => CategoricalPrecision.Float64,
                        var x => throw new SdttException($"{source}: sdtt.draw_precision '{x}' must be float32 or float64"),
                    },
                },
                "store_targets_bf16" => d with { StoreTargetsBf16 = B() },
                "loss_float64" => d with { LossFloat64 = B() },
                "reset_optimizer_on_growth" => d with { ResetOptimizerOnGrowth = B() },
                "use_ema_on_growth" => d with { UseEmaOnGrowth = B() },
                "sampling_eps" => d with { TimeEps = N() },
                "rollout" => d with { Rollout = ParseRollout(S(), $"{source}: sdtt.rollout") },
                _ => throw new SdttException($"{source}: unknown key 'sdtt.{k}' (known: {string.Join(", ", new SdttOptions().ToJson().Select(x => x.Key))})"),
            };
        }
        if (d.TimeEps is <= 0 or >= 1) throw new SdttException($"{source}: sdtt.sampling_eps must be in (0, 1)");
        if (d.Rollout == TeacherRollout.RevealFirst && d.DrawPrecision != CategoricalPrecision.Float32)
            throw new SdttException($"{source}: sdtt.draw_precision applies only to the reference rollout (set sdtt.rollout=reference); reveal-first always inverts the float64 CDF");
        return d;
    }
}

/// <summary>JSON form of <see cref="SdttSchedule"/> (section "rounds").</summary>
public static class SdttScheduleJson
{
    /// <summary>As JSON.</summary>
    public static JsonObject ToJson(SdttSchedule s) => new()
    {
        ["teacher_steps"] = s.TeacherSteps, ["k"] = s.K, ["steps_per_round"] = s.StepsPerRound,
        ["min_student_steps"] = s.MinStudentSteps, ["max_rounds"] = s.MaxRounds, ["sampling_eps"] = s.GridEps,
    };

    /// <summary>A JSON number as a double (whatever its backing type), or null.</summary>
    public static double? Number(JsonNode? v) =>
        v is JsonValue jv && jv.GetValueKind() == System.Text.Json.JsonValueKind.Number
            ? double.Parse(jv.ToJsonString(), CultureInfo.InvariantCulture) : null;

    /// <summary>Reads what <see cref="ToJson"/> writes (missing keys keep the defaults).</summary>
    public static SdttSchedule FromJson(JsonObject o, string source)
    {
        var s = new SdttSchedule();
        foreach (var (k, v) in o)
        {
            double x = Number(v) ?? throw new SdttException($"{source}: rounds.{k} must be a number");
            long L() => x == Math.Floor(x) ? (long)x : throw new SdttException($"{source}: rounds.{k} must be an integer (got {x.ToString(CultureInfo.InvariantCulture)})");
            s = k switch
            {
                "teacher_steps" => s with { TeacherSteps = (int)L() },
                "k" => s with { K = (int)L() },
                "steps_per_round" => s with { StepsPerRound = L() },
                "min_student_steps" => s with { MinStudentSteps = (int)L() },
                "max_rounds" => s with { MaxRounds = (int)L() },
                "sampling_eps" => s with { GridEps = x },
                _ => throw new SdttException($"{source}: unknown key 'rounds.{k}' (known: teacher_steps, k, steps_per_round, min_student_steps, max_rounds, sampling_eps)"),
            };
        }
        return s.Validate();
    }
}
