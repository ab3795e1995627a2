namespace Sdtt.IO;

/// <summary>Checks an output path before any long work, so a bad <c>--out</c> fails at once with the path named instead of
/// losing the results at the end. Writability is tested by creating (and removing) a probe file in the nearest existing
/// folder, which also catches read-only mounts and other cases file modes do not show (e.g. when running as root).</summary>
public static class OutputPath
{
    /// <summary>Checks that <paramref name="path"/> can be written as a file (created or replaced); <paramref name="what"/>
    /// names the option in messages ("--out"). Returns the full path.</summary>
    public static string RequireFile(string path, string what = "--out")
    {
        if (string.IsNullOrWhiteSpace(path)) throw new SdttException($"{what}: empty path");
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new SdttException($"{what} {path}: is a folder; give a file path");
        Probe(Path.GetDirectoryName(full) ?? full, path, what);
        return full;
    }

    /// <summary>Checks that <paramref name="path"/> is, or can be created as, a writable folder. Returns the full path.</summary>
    public static string RequireFolder(string path, string what = "--out")
    {
        if (string.IsNullOrWhiteSpace(path)) throw new SdttException($"{what}: empty path");
        var full = Path.GetFullPath(path);
        if (File.Exists(full)) throw new SdttException($"{what} {path}: is a file; give a folder");
        Probe(full, path, what);
        return full;
    }

    /// <summary>Finds the nearest existing ancestor of <paramref name="dir"/> (failing if one is a file) and writes a probe file there.</summary>
    private static void Probe(string dir, string given, string what)
    {
        var p = Path.TrimEndingDirectorySeparator(dir);
        while (!Directory.Exists(p))
        {
            if (File.Exists(p)) throw new SdttException($"{what} {given}: cannot be created, {p} is a file");
            var parent = Path.GetDirectoryName(p);
            if (parent is null || parent == p) throw new SdttException($"{what} {given}: no existing parent folder");
            p = parent;
        }
        var probe = Path.Combine(p, $".sdtt-write-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SdttException($"{what} {given}: cannot write in {p} ({(e is FileNotFoundException or DirectoryNotFoundException ? "it takes no new files" : Reason(e))})");
        }
        finally
        {
            try { if (File.Exists(probe)) File.Delete(probe); } catch (IOException) { }
        }
    }

    /// <summary>The OS reason without .NET's repetition of the path.</summary>
    private static string Reason(Exception e)
    {
        var m = e.Message;
        int q = m.IndexOf(" : '", StringComparison.Ordinal);
        if (q > 0) m = m[..q];
        return e is UnauthorizedAccessException ? "permission denied" : m.TrimEnd('.');
    }
}
