using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.IO;

namespace Sdtt.Training;

/// <summary>The <c>checkpoints/</c> folder of a run: one folder per saved step (<c>step-0000300/</c>), written into
/// <c>step-0000300.tmp/</c> and renamed when complete, plus <c>last.json</c> (written by temp + rename) naming the newest
/// complete one. Older step folders beyond the newest k are deleted; the one <c>last</c> names is never deleted.</summary>
public sealed class CheckpointStore
{
    /// <summary>Name of the pointer file.</summary>
    public const string LastFile = "last.json";

    /// <summary>The checkpoints folder.</summary>
    public string Dir { get; }

    /// <summary>A store rooted at <paramref name="dir"/> (created on first save).</summary>
    public CheckpointStore(string dir) => Dir = dir;

    /// <summary>Folder name of a step.</summary>
    public static string StepName(long step) => $"step-{step:D7}";

    /// <summary>The folder <c>last</c> points to, or null when there is no complete checkpoint.</summary>
    public string? Last()
    {
        var p = Path.Combine(Dir, LastFile);
        if (!File.Exists(p)) return null;
        JsonNode? n;
        try { n = JsonNode.Parse(File.ReadAllText(p)); }
        catch (JsonException e) { throw new SdttException($"{p}: not valid JSON ({e.Message})"); }
        var name = n?["dir"]?.GetValue<string>() ?? throw new SdttException($"{p}: no \"dir\" field");
        var d = Path.Combine(Dir, name);
        if (!Directory.Exists(d)) throw new SdttException($"{p}: points to {name}, which does not exist");
        return d;
    }

    /// <summary>The complete step folders, oldest first.</summary>
    public IReadOnlyList<(long Step, string Path)> List()
    {
        if (!Directory.Exists(Dir)) return Array.Empty<(long, string)>();
        return Directory.GetDirectories(Dir, "step-*")
            .Select(d => (Name: System.IO.Path.GetFileName(d), Path: d))
            .Where(x => !x.Name.EndsWith(".tmp") && !x.Name.EndsWith(".old") && long.TryParse(x.Name["step-".Length..], out _))
            .Select(x => (long.Parse(x.Name["step-".Length..]), x.Path))
            .OrderBy(x => x.Item1).ToList();
    }

    /// <summary>Writes a checkpoint: <paramref name="fill"/> writes the files into an empty temporary folder; then the folder
    /// is renamed, <c>last.json</c> replaced, and old folders beyond <paramref name="keep"/> removed. Returns the folder.</summary>
    public string Save(long step, Action<string> fill, int keep)
    {
        Directory.CreateDirectory(Dir);
        var name = StepName(step);
        var final = Path.Combine(Dir, name);
        var tmp = final + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        fill(tmp);
        string? old = null;
        if (Directory.Exists(final))
        {
            old = final + ".old";
            if (Directory.Exists(old)) Directory.Delete(old, true);
            Directory.Move(final, old);
        }
        Directory.Move(tmp, final);
        ModelFolder.WriteJsonAtomic(Path.Combine(Dir, LastFile), new JsonObject { ["dir"] = name, ["step"] = step });
        if (old is not null) Directory.Delete(old, true);
        foreach (var (_, path) in List().SkipLast(keep))
            if (path != final) Directory.Delete(path, true);
        return final;
    }
}
