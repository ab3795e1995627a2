using System.Globalization;

namespace Sdtt;

/// <summary>Human-readable durations for ETAs and elapsed times: "04:05:06" below a day, "3 d 04:05:06" above
/// (TimeSpan's hh format silently drops whole days).</summary>
public static class Durations
{
    /// <summary>Formats <paramref name="t"/>; negative or non-finite spans print as "?".</summary>
    public static string Format(TimeSpan t)
    {
        if (t < TimeSpan.Zero) return "?";
        var hms = t.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);
        return t.TotalDays >= 1 ? $"{(long)t.TotalDays} d {hms}" : hms;
    }

    /// <summary>Formats a number of seconds (NaN or infinite → "?"; beyond TimeSpan's range → "> 10,000 years").</summary>
    public static string FormatSeconds(double seconds)
    {
        if (!double.IsFinite(seconds) || seconds < 0) return "?";
        if (seconds > 3.15e11) return "> 10,000 years";
        if (seconds < 60) return seconds.ToString(seconds < 1 ? "0.0##" : "0.0", CultureInfo.InvariantCulture) + " s";
        return Format(TimeSpan.FromSeconds(seconds));
    }
}
