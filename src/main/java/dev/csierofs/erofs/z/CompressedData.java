package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;

/** Placeholder until the compression package lands. */
public final class CompressedData implements FileData {
    public static CompressedData open(ErofsImage image, Inode inode) throws ErofsException {
        throw new ErofsException(inode.label(), inode.iloc(), "compressed data not supported yet");
    }

    @Override
    public int read(long pos, byte[] dst, int off, int len) {
        return 0;
    }
}
