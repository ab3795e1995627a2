namespace Sdtt.Evaluation;

/// <summary>n-gram helpers (n ≤ 4) over token-id sequences; an n-gram is a value tuple padded with −1.</summary>
internal static class NGrams
{
    public const int MaxOrder = 4;

    public static (int, int, int, int) At(IReadOnlyList<int> s, int i, int n) => n switch
    {
        1 => (s[i], -1, -1, -1),
        2 => (s[i], s[i + 1], -1, -1),
        3 => (s[i], s[i + 1], s[i + 2], -1),
        4 => (s[i], s[i + 1], s[i + 2], s[i + 3]),
        _ => throw new ArgumentOutOfRangeException(nameof(n), "n-gram order must be 1..4"),
    };

    /// <summary>Counts of every n-gram of order <paramref name="n"/>.</summary>
    public static Dictionary<(int, int, int, int), int> Count(IReadOnlyList<int> s, int n)
    {
        var d = new Dictionary<(int, int, int, int), int>();
        for (int i = 0; i + n <= s.Count; i++)
        {
            var g = At(s, i, n);
            d[g] = d.GetValueOrDefault(g) + 1;
        }
        return d;
    }
}
