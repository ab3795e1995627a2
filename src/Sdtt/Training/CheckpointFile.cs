namespace Sdtt.Training;

/// <summary>Reads one file of a checkpoint so that any failure (truncated, corrupt, unreadable) becomes one error naming
/// that file, instead of a bare "Attempted to read past the end of the stream".</summary>
internal static class CheckpointFile
{
    public static T Read<T>(string path, Func<T> read)
    {
        if (!File.Exists(path) && !Directory.Exists(path)) throw new SdttException($"{path}: missing from the checkpoint (incomplete or damaged; resume from another one with --resume-from STEP)");
        try { return read(); }
        catch (SdttException e) when (e.Message.Contains(path)) { throw; }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var first = e.Message.Split('\n')[0].Trim();
            throw new SdttException($"{path}: cannot be read, truncated or corrupt ({e.GetType().Name}: {first}); resume from another checkpoint with --resume-from STEP");
        }
    }
}
