namespace Sdtt.Serving;

/// <summary>Cuts streamed text at the first stop sequence. Text that could still become the start of a stop sequence
/// (a suffix that is a proper prefix of one) is held back until the next push decides it, so no part of a stop sequence
/// is ever emitted.</summary>
public sealed class StopSequenceFilter
{
    private readonly string[] _stops;
    private string _held = "";

    /// <summary>A filter for <paramref name="stops"/> (empty strings are ignored).</summary>
    public StopSequenceFilter(IEnumerable<string>? stops) =>
        _stops = (stops ?? Array.Empty<string>()).Where(s => !string.IsNullOrEmpty(s)).Distinct().ToArray();

    /// <summary>Whether a stop sequence was found (no text is accepted afterwards).</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds text; returns the part that is final (before any stop sequence).</summary>
    public string Push(string text)
    {
        if (Stopped || text.Length == 0) return "";
        var buffer = _held + text;
        int cut = -1;
        foreach (var s in _stops)
        {
            int i = buffer.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && (cut < 0 || i < cut)) cut = i;
        }
        if (cut >= 0)
        {
            Stopped = true;
            _held = "";
            return buffer[..cut];
        }
        int hold = HeldSuffix(buffer);
        _held = buffer[^hold..];
        return buffer[..^hold];
    }

    /// <summary>Releases the held text (the generation ended without completing a stop sequence).</summary>
    public string Flush()
    {
        var t = _held;
        _held = "";
        return Stopped ? "" : t;
    }

    /// <summary>Length of the longest suffix of <paramref name="buffer"/> that is a proper prefix of a stop sequence.</summary>
    private int HeldSuffix(string buffer)
    {
        int best = 0;
        foreach (var s in _stops)
            for (int n = Math.Min(s.Length - 1, buffer.Length); n > best; n--)
                if (string.CompareOrdinal(buffer, buffer.Length - n, s, 0, n) == 0) { best = n; break; }
        return best;
    }
}
