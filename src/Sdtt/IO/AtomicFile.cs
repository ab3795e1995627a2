namespace Sdtt.IO;

/// <summary>Writes a file so that a reader (or a kill) sees the previous file or the complete new one, never a
/// half-written one: the content goes to a sibling temporary file, which is renamed over the target once complete.
/// The one implementation of the temp-then-rename pattern; <see cref="AtomicDirectory"/> does the same for folders.</summary>
public static class AtomicFile
{
    /// <summary>Suffix of the file being written.</summary>
    public const string TempSuffix = ".sdtt-tmp";
    /// <summary>Suffix of a PNG being written (the plotting library picks the format from the extension).</summary>
    public const string PngTempSuffix = ".tmp.png";

    /// <summary>Calls <paramref name="write"/> with the temporary path, then renames it to <paramref name="path"/>
    /// (replacing an existing file). On failure the temporary file is removed and the target is left untouched.</summary>
    public static void Write(string path, Action<string> write, string tempSuffix = TempSuffix)
    {
        var tmp = path + tempSuffix;
        try
        {
            write(tmp);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { if (File.Exists(tmp)) File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Writes a stream (1 MiB buffer); with <paramref name="flushToDisk"/> the bytes reach the disk before the rename.</summary>
    public static void Write(string path, Action<Stream> write, bool flushToDisk = false) => Write(path, tmp =>
    {
        using var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        write(fs);
        if (flushToDisk) fs.Flush(true);
    });

    /// <summary>Writes <paramref name="text"/> (UTF-8, no BOM).</summary>
    public static void WriteAllText(string path, string text) => Write(path, tmp => File.WriteAllText(tmp, text));

    /// <summary>Writes <paramref name="lines"/>, each followed by a newline.</summary>
    public static void WriteAllLines(string path, IEnumerable<string> lines) => Write(path, tmp => File.WriteAllLines(tmp, lines));

    /// <summary>Saves a plot as a PNG of the given size.</summary>
    public static void SavePng(ScottPlot.Plot plot, string path, int width, int height) =>
        Write(path, tmp => plot.SavePng(tmp, width, height), PngTempSuffix);
}
