package dev.csierofs.sys;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MountsTest {

    @Test
    void parsesMountinfoWithOptionalFieldsAndEscapes() {
        List<Mounts.Entry> all = Mounts.parse("""
                22 27 0:21 / /proc rw,relatime - proc proc rw
                36 35 98:0 /mnt1 /my\\040dir rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue
                40 36 0:50 / /my\\040dir ro,nosuid,nodev,relatime - fuse.erofs /img\\134x ro,user_id=0,group_id=0,allow_other
                """);
        assertEquals(3, all.size());
        Mounts.Entry fuse = all.get(2);
        assertEquals("/my dir", fuse.mountPoint());
        assertEquals("fuse.erofs", fuse.fsType());
        assertEquals("/img\\x", fuse.source());
        assertTrue(fuse.hasMountOption("nodev"));
        assertFalse(fuse.hasMountOption("no"));
        assertTrue(fuse.hasSuperOption("allow_other"));
        assertEquals("ext3", all.get(1).fsType());
        List<Mounts.Entry> stacked = Mounts.at(all, "/my dir");
        assertEquals(2, stacked.size());
        assertEquals(40, Mounts.top(stacked).orElseThrow().id());
    }

    @Test
    void readsThisProcessMountTable() throws Exception {
        assertTrue(Mounts.read().stream().anyMatch(e -> e.mountPoint().equals("/proc") && e.fsType().equals("proc")));
    }
}
