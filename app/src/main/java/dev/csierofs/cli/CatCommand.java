package dev.csierofs.cli;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.concurrent.Callable;

@Command(name = "cat", mixinStandardHelpOptions = true, description = "Write the content of a regular file in an image to standard output.")
public class CatCommand implements Callable<Integer> {
    @Mixin
    ImageOptions img;

    @Parameters(index = "1", paramLabel = "PATH", description = "path of a regular file inside the image (symlinks are followed within the image)")
    String path;

    @Override
    public Integer call() throws Exception {
        try (ErofsImage image = img.open()) {
            Inode inode = image.resolveFollowing(path).orElseThrow(() -> new IOException(path + ": no such file in " + img.image));
            if (!inode.isRegular()) {
                throw new IOException(path + " is not a regular file");
            }
            FileData data = image.openData(inode);
            OutputStream out = new FileOutputStream(FileDescriptor.out);
            byte[] buf = new byte[1 << 20];
            long pos = 0;
            while (pos < inode.size()) {
                int n = data.read(pos, buf, 0, buf.length);
                if (n <= 0) {
                    throw new IOException(path + ": data ends at " + pos + " before its size " + inode.size());
                }
                out.write(buf, 0, n);
                pos += n;
            }
            out.flush();
        }
        return 0;
    }
}
