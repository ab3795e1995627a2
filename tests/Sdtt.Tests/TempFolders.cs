namespace Sdtt.Tests;

/// <summary>Temporary folders of one test, removed when the test class instance is disposed (xunit disposes it after
/// every test, passed or failed), so a failing assertion leaves nothing behind in /tmp.</summary>
public sealed class TempFolders : IDisposable
{
    private readonly List<string> _paths = new();

    /// <summary>Registers <paramref name="path"/> for removal and returns it.</summary>
    public string Track(string path)
    {
        lock (_paths) _paths.Add(path);
        return path;
    }

    /// <summary>Removes every registered folder that still exists; a folder a child process still holds open is left.</summary>
    public void Dispose()
    {
        lock (_paths)
            foreach (var p in _paths)
                try { if (Directory.Exists(p)) Directory.Delete(p, true); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
    }
}
