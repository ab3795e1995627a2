using Sdtt.IO;

namespace Sdtt.Tests.Reliability;

/// <summary>The one temp-then-rename helper: a failed write leaves the previous file and no temporary file.</summary>
public class AtomicFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sdtt-atomic").FullName;
    /// <summary>Removes the folder.</summary>
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void FailedWriteKeepsThePreviousFileAndLeavesNoTemporary()
    {
        var path = Path.Combine(_dir, "a.json");
        AtomicFile.WriteAllText(path, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, (Stream s) =>
        {
            s.Write("half"u8);
            throw new InvalidOperationException("killed mid-write");
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(_dir));
        AtomicFile.WriteAllLines(path, new[] { "x", "y" });
        Assert.Equal("x\ny\n", File.ReadAllText(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(_dir));
    }
}
