// fake-controller: a minimal CSI Identity and Controller server, so that csi-sanity can run its Node
// specs against a node-only plugin: csi-sanity gets its test volumes from CreateVolume, and this
// answers with the request parameters (-csi.testvolumeparameters) as the volume context, so the
// node plugin receives image=app.erofs in NodePublishVolume. Nothing else is implemented.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

type server struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedControllerServer
	mu   sync.Mutex
	vols map[string]*csi.Volume
}

func (s *server) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: "fake-controller.sanity", VendorVersion: "0"}, nil
}

func (s *server) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{Capabilities: []*csi.PluginCapability{{
		Type: &csi.PluginCapability_Service_{Service: &csi.PluginCapability_Service{Type: csi.PluginCapability_Service_CONTROLLER_SERVICE}},
	}}}, nil
}

func (s *server) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
}

func (s *server) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: []*csi.ControllerServiceCapability{{
		Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME}},
	}}}, nil
}

func (s *server) CreateVolume(_ context.Context, r *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if r.Name == "" {
		return nil, status.Error(codes.InvalidArgument, "name is required")
	}
	if len(r.VolumeCapabilities) == 0 {
		return nil, status.Error(codes.InvalidArgument, "volume_capabilities are required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := "fake-" + strings.ReplaceAll(r.Name, "/", "_")
	v, ok := s.vols[id]
	if !ok {
		ctx := map[string]string{}
		for k, val := range r.Parameters {
			ctx[k] = val
		}
		v = &csi.Volume{VolumeId: id, CapacityBytes: r.GetCapacityRange().GetRequiredBytes(), VolumeContext: ctx}
		s.vols[id] = v
	}
	log.Printf("CreateVolume %s -> %s %v", r.Name, id, v.VolumeContext)
	return &csi.CreateVolumeResponse{Volume: v}, nil
}

func (s *server) DeleteVolume(_ context.Context, r *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	if r.VolumeId == "" {
		return nil, status.Error(codes.InvalidArgument, "volume_id is required")
	}
	s.mu.Lock()
	delete(s.vols, r.VolumeId)
	s.mu.Unlock()
	log.Printf("DeleteVolume %s", r.VolumeId)
	return &csi.DeleteVolumeResponse{}, nil
}

func main() {
	endpoint := flag.String("endpoint", "/tmp/sanity/fake-controller.sock", "unix socket path")
	flag.Parse()
	path := strings.TrimPrefix(*endpoint, "unix://")
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		log.Fatal(err)
	}
	g := grpc.NewServer()
	s := &server{vols: map[string]*csi.Volume{}}
	csi.RegisterIdentityServer(g, s)
	csi.RegisterControllerServer(g, s)
	log.Printf("fake controller on %s", path)
	log.Fatal(g.Serve(l))
}
