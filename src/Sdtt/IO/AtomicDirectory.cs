namespace Sdtt.IO;

/// <summary>Writes a whole folder so that a reader (or a kill) sees the previous folder or the complete new one, never a
/// half-written one: the files go into a sibling <c>NAME.sdtt-tmp/</c>, which is renamed into place once complete.</summary>
public static class AtomicDirectory
{
    /// <summary>Suffix of the folder being written.</summary>
    public const string TempSuffix = ".sdtt-tmp";
    /// <summary>Suffix of the previous folder while it is being replaced.</summary>
    public const string OldSuffix = ".sdtt-old";

    /// <summary>Fills an empty temporary folder with <paramref name="fill"/>, then renames it to <paramref name="dir"/>
    /// (replacing an existing folder). A previous attempt's leftovers are removed first.</summary>
    public static void Write(string dir, Action<string> fill)
    {
        dir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir));
        string tmp = dir + TempSuffix, old = dir + OldSuffix;
        Recover(dir);
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        fill(tmp);
        if (Directory.Exists(dir)) Directory.Move(dir, old);
        Directory.Move(tmp, dir);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }

    /// <summary>Finishes an interrupted replacement: a kill between the two renames of <see cref="Write"/> leaves only
    /// <c>NAME.sdtt-old/</c>, which is put back.</summary>
    public static void Recover(string dir)
    {
        dir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir));
        string old = dir + OldSuffix;
        if (!Directory.Exists(old)) return;
        if (Directory.Exists(dir)) Directory.Delete(old, true);
        else Directory.Move(old, dir);
    }
}
