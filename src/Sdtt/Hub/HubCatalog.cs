using System.Text.RegularExpressions;

namespace Sdtt.Hub;

/// <summary>The released checkpoints as the SDTT model card offers them (reference E.1–E.2), and friendly aliases:
/// <list type="bullet">
/// <item><c>student [--loss kld|mse|tvd] [--round 1-7]</c> → <c>jdeschena/sdtt@baselines_{loss}_step_{round·10000}</c> (small students
/// distilled from the 1M-step MDLM; loss defaults to kld, round to 7);</item>
/// <item><c>student --size sm|md|large [--round 1-7]</c> → <c>jdeschena/sdtt@scaling_400k_{size}_step_{round·10000}</c>;</item>
/// <item><c>teacher [--size sm|md|large]</c> → <c>jdeschena/sdtt@teacher_400k_{size}_step_400000</c> (size defaults to sm);</item>
/// <item><c>teacher-1m</c> → <c>jdeschena/sdtt@teacher_1M_sm</c>; <c>mdlm-owt</c> → <c>kuleshov-group/mdlm-owt@main</c>;</item>
/// <item>a revision name of jdeschena/sdtt by itself; <c>OWNER/NAME[@REV]</c> with <c>--revision</c> (jdeschena/sdtt revisions are
/// checked against the list; other repositories, e.g. mirrors or own uploads, default to <c>main</c>).</item>
/// </list></summary>
public static class HubCatalog
{
    /// <summary>The SDTT release repository.</summary>
    public const string SdttRepo = "jdeschena/sdtt";
    /// <summary>The original MDLM release.</summary>
    public const string MdlmRepo = "kuleshov-group/mdlm-owt";
    /// <summary>Distillation losses of the small baseline students.</summary>
    public static readonly IReadOnlyList<string> Losses = ["kld", "mse", "tvd"];
    /// <summary>Sizes of the scaling students and teachers.</summary>
    public static readonly IReadOnlyList<string> Sizes = ["sm", "md", "large"];
    /// <summary>Distillation rounds released (each 10,000 steps).</summary>
    public const int Rounds = 7;

    /// <summary>One line naming every accepted form, used in error messages.</summary>
    public const string Usage = "student [--loss kld|mse|tvd] [--round 1-7], student --size sm|md|large [--round 1-7], teacher [--size sm|md|large], " +
        "teacher-1m, mdlm-owt, a jdeschena/sdtt revision name, or OWNER/NAME[@REV] [--revision REV] (list them with `sdtt download --list`)";

    private static readonly Regex RepoPattern = new(@"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$", RegexOptions.CultureInvariant);

    /// <summary>Every released checkpoint: 21 baseline students, 21 scaling students, 3 scaling teachers, the re-pushed 1M-step
    /// teacher and kuleshov-group/mdlm-owt.</summary>
    public static IReadOnlyList<HubModel> All { get; } = BuildAll();

    private static List<HubModel> BuildAll()
    {
        var all = new List<HubModel>();
        foreach (var loss in Losses)
            for (int r = 1; r <= Rounds; r++)
                all.Add(new(SdttRepo, $"baselines_{loss}_step_{r * 10000}", $"small student, {loss.ToUpperInvariant()} distillation from the 1M-step MDLM, round {r}"));
        foreach (var size in Sizes)
            for (int r = 1; r <= Rounds; r++)
                all.Add(new(SdttRepo, $"scaling_400k_{size}_step_{r * 10000}", $"{SizeWord(size)} student distilled from the 400k-step teacher, round {r}"));
        foreach (var size in Sizes)
            all.Add(new(SdttRepo, $"teacher_400k_{size}_step_400000", $"{SizeWord(size)} MDLM teacher, 400k steps"));
        all.Add(new(SdttRepo, "teacher_1M_sm", "small MDLM teacher, 1M steps (kuleshov-group/mdlm-owt re-pushed)"));
        all.Add(new(MdlmRepo, "main", "original small MDLM, 1M steps on OpenWebText"));
        return all;
    }

    private static string SizeWord(string size) => size switch { "sm" => "small", "md" => "medium", _ => "large" };

    /// <summary>Resolves a name and its options to a repository and revision; throws <see cref="SdttException"/> with one line
    /// listing the valid choices when they do not name a checkpoint.</summary>
    /// <param name="name">An alias (student, teacher, teacher-1m, mdlm-owt), a jdeschena/sdtt revision, or OWNER/NAME[@REV].</param>
    /// <param name="revision">Revision for OWNER/NAME.</param>
    /// <param name="loss">kld, mse or tvd (student baselines).</param>
    /// <param name="size">sm, md or large (also small, medium) for scaling students and teachers.</param>
    /// <param name="round">Distillation round 1–7 (students; default 7).</param>
    public static HubModel Resolve(string name, string? revision = null, string? loss = null, string? size = null, int? round = null)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new SdttException($"give a model name: {Usage}");
        name = name.Trim();
        var alias = name.ToLowerInvariant();
        string? sz = size is null ? null : NormalizeSize(size);
        string? ls = loss is null ? null : NormalizeLoss(loss);
        if (round is { } rr && (rr < 1 || rr > Rounds)) throw new SdttException($"--round must be between 1 and {Rounds}, got {rr}");
        bool isAlias = alias is "student" or "teacher" or "teacher-1m" or "mdlm-owt";
        if (isAlias && revision is not null) throw new SdttException($"--revision applies to OWNER/NAME only, not to '{name}'");

        switch (alias)
        {
            case "student":
                if (ls is not null && sz is not null)
                    throw new SdttException("give --loss (small baseline students) or --size (scaling students), not both");
                int r = round ?? Rounds;
                return Find(SdttRepo, sz is not null ? $"scaling_400k_{sz}_step_{r * 10000}" : $"baselines_{ls ?? "kld"}_step_{r * 10000}");
            case "teacher":
                NotApplicable(name, ls, null, round);
                return Find(SdttRepo, $"teacher_400k_{sz ?? "sm"}_step_400000");
            case "teacher-1m":
                NotApplicable(name, ls, sz, round);
                return Find(SdttRepo, "teacher_1M_sm");
            case "mdlm-owt":
                NotApplicable(name, ls, sz, round);
                return Find(MdlmRepo, "main");
        }

        var known = All.FirstOrDefault(m => m.Repo == SdttRepo && m.Revision == name);
        if (known is not null)
        {
            NotApplicable(name, ls, sz, round);
            if (revision is not null) throw new SdttException($"'{name}' is already a revision; drop --revision");
            return known;
        }

        var repo = name;
        var at = name.IndexOf('@');
        if (at >= 0)
        {
            if (revision is not null) throw new SdttException($"give the revision either as {name[..at]}@REV or with --revision, not both");
            repo = name[..at];
            revision = name[(at + 1)..];
        }
        if (!RepoPattern.IsMatch(repo)) throw new SdttException($"unknown model '{name}'; valid: {Usage}");
        NotApplicable(name, ls, sz, round);
        if (revision is not null && !IsSafeRevision(revision)) throw new SdttException($"invalid revision '{revision}'");
        if (repo.Equals(SdttRepo, StringComparison.OrdinalIgnoreCase))
        {
            if (revision is null)
                throw new SdttException($"{SdttRepo} needs a revision: baselines_{{kld|mse|tvd}}_step_{{10000..70000}}, scaling_400k_{{sm|md|large}}_step_{{10000..70000}}, teacher_400k_{{sm|md|large}}_step_400000 or teacher_1M_sm");
            return All.FirstOrDefault(m => m.Repo == SdttRepo && m.Revision == revision)
                ?? throw new SdttException($"{SdttRepo} has no revision '{revision}'; valid: baselines_{{kld|mse|tvd}}_step_{{10000..70000}}, scaling_400k_{{sm|md|large}}_step_{{10000..70000}}, teacher_400k_{{sm|md|large}}_step_400000, teacher_1M_sm");
        }
        revision ??= "main";
        return All.FirstOrDefault(m => m.Repo.Equals(repo, StringComparison.OrdinalIgnoreCase) && m.Revision == revision)
            ?? new HubModel(repo, revision, "");
    }

    /// <summary>Whether a revision can be used in a URL path and as a folder name (no "..", no backslash, no control characters).</summary>
    public static bool IsSafeRevision(string revision) =>
        revision.Length is > 0 and <= 200 && !revision.Contains("..") && !revision.StartsWith('/') && !revision.EndsWith('/')
        && revision.All(c => c > ' ' && c != '\\' && c != 0x7F);

    private static HubModel Find(string repo, string revision) =>
        All.First(m => m.Repo == repo && m.Revision == revision);

    private static void NotApplicable(string name, string? loss, string? size, int? round)
    {
        var given = new List<string>();
        if (loss is not null) given.Add("--loss");
        if (size is not null) given.Add("--size");
        if (round is not null) given.Add("--round");
        if (given.Count > 0) throw new SdttException($"{string.Join(", ", given)} does not apply to '{name}'; valid: {Usage}");
    }

    private static string NormalizeSize(string s) => s.Trim().ToLowerInvariant() switch
    {
        "sm" or "small" => "sm",
        "md" or "medium" => "md",
        "large" or "lg" => "large",
        _ => throw new SdttException($"unknown --size '{s}'; valid: sm, md, large"),
    };

    private static string NormalizeLoss(string s) => s.Trim().ToLowerInvariant() switch
    {
        "kld" or "kl" => "kld",
        "mse" => "mse",
        "tvd" => "tvd",
        _ => throw new SdttException($"unknown --loss '{s}'; valid: kld, mse, tvd"),
    };
}
