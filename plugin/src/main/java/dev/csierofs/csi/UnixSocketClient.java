package dev.csierofs.csi;

import dev.csierofs.csi.v1.IdentityGrpc;
import dev.csierofs.csi.v1.NodeGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;

import java.util.concurrent.TimeUnit;

/** A grpc-java client on the plugin's unix socket, as kubelet connects (tests, {@link AotTraining}). */
final class UnixSocketClient implements AutoCloseable {
    private final EpollEventLoopGroup group = new EpollEventLoopGroup(1);
    private final ManagedChannel channel;

    UnixSocketClient(String socket) {
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket))
                .eventLoopGroup(group)
                .channelType(EpollDomainSocketChannel.class)
                // grpc-java sets SO_KEEPALIVE on every connection, which a unix socket does not have (Netty
                // then warns "Unknown channel option" per connection); a null value removes it
                .withOption(ChannelOption.SO_KEEPALIVE, null)
                .overrideAuthority("localhost") // grpc-java sends the socket path otherwise, which the server refuses
                .usePlaintext()
                .build();
    }

    IdentityGrpc.IdentityBlockingStub identity() {
        return IdentityGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    NodeGrpc.NodeBlockingStub node() {
        return NodeGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
