namespace Sdtt.Workflows;

/// <summary>Arguments of printed <c>sdtt …</c> command lines (pipeline stages, recovery hints), quoted for a POSIX shell
/// only when they need it, so the printed line can be pasted back.</summary>
public static class ShellQuote
{
    /// <summary><paramref name="a"/> as is when it holds only safe characters, otherwise in single quotes.</summary>
    public static string Arg(string a) =>
        a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./=:,+@%".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'";
}
