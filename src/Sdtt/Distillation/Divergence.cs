using static TorchSharp.torch;

namespace Sdtt.Distillation;

/// <summary>The student/teacher divergences of SDTT, on SUBS log-probabilities of the masked rows [N, V].</summary>
public enum DivergenceKind
{
    /// <summary>Reverse KL, KL(student ‖ teacher): the paper's "KLD" and the reference default ("kl-bwd").</summary>
    ReverseKl,
    /// <summary>Forward KL, KL(teacher ‖ student) ("kl-fwd").</summary>
    ForwardKl,
    /// <summary>The reference "mse": mean squared error of log-probabilities over all N·V entries.</summary>
    Mse,
    /// <summary>The reference "tvd": mean over rows of the L1 distance between log-probabilities (as coded).</summary>
    Tvd,
    /// <summary>True total variation ½ Σ|p − q| on probabilities, averaged over rows.</summary>
    Tv,
}

/// <summary>Computes <see cref="DivergenceKind"/> values, averaged over masked rows as the reference does.</summary>
public static class Divergence
{
    /// <summary>Parses kld|kl-bwd|reverse-kl, kl-fwd|forward-kl, mse, tvd, tv.</summary>
    public static DivergenceKind Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "kld" or "kl-bwd" or "kl_bwd" or "reverse-kl" or "rkl" => DivergenceKind.ReverseKl,
        "kl-fwd" or "kl_fwd" or "forward-kl" or "fkl" => DivergenceKind.ForwardKl,
        "mse" => DivergenceKind.Mse,
        "tvd" => DivergenceKind.Tvd,
        "tv" => DivergenceKind.Tv,
        _ => throw new SdttException($"unknown divergence '{name}'; use kld, kl-fwd, mse, tvd or tv"),
    };

    /// <summary>Short CLI name of a kind.</summary>
    public static string Name(DivergenceKind kind) => kind switch
    {
        DivergenceKind.ReverseKl => "kld", DivergenceKind.ForwardKl => "kl-fwd", DivergenceKind.Mse => "mse",
        DivergenceKind.Tvd => "tvd", _ => "tv",
    };

    /// <summary>Per-row values [N].</summary>
    public static Tensor Rows(DivergenceKind kind, Tensor student, Tensor teacher)
    {
        using var scope = NewDisposeScope();
        Tensor r = kind switch
        {
            DivergenceKind.ReverseKl => (student.exp() * (student - teacher)).sum(-1),
            DivergenceKind.ForwardKl => (teacher.exp() * (teacher - student)).sum(-1),
            DivergenceKind.Mse => (student - teacher).square().mean(new long[] { -1 }),
            DivergenceKind.Tvd => (student - teacher).abs().sum(-1),
            _ => 0.5 * (student.exp() - teacher.exp()).abs().sum(-1),
        };
        return r.MoveToOuterDisposeScope();
    }

    /// <summary>The loss: mean over rows (for mse, the mean over all N·V entries, which is the same number).</summary>
    public static Tensor Compute(DivergenceKind kind, Tensor student, Tensor teacher)
    {
        using var scope = NewDisposeScope();
        return Rows(kind, student, teacher).mean().MoveToOuterDisposeScope();
    }
}
