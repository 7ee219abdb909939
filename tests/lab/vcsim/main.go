// Command vcsim runs one govmomi vCenter simulator for the continuity.recovery lab.
//
// It starts an empty VPX inventory (one datacenter, one cluster of -hosts hosts,
// no VMs, no datastores) on -listen over HTTPS, writes the SDK URL to -urlfile and
// serves until SIGTERM/SIGINT. The lab controller (tests/lab/labctl.py) seeds the
// inventory over the vSphere API, exactly as a user would see it.
package main

import (
	"crypto/tls"
	"flag"
	"io/ioutil"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	hosts := flag.Int("hosts", 2, "hosts in the cluster")
	delay := flag.Int("delay", 0, "milliseconds of latency added to every SOAP call")
	urlfile := flag.String("urlfile", "", "write the SDK URL to this file once serving")
	username := flag.String("username", "administrator@vsphere.local", "login user")
	password := flag.String("password", "", "login password (empty: any)")
	flag.Parse()

	model := simulator.VPX()
	model.Datacenter = 1
	model.Cluster = 1
	model.ClusterHost = *hosts
	model.Host = 0
	model.Machine = 0
	model.Datastore = 0
	model.Portgroup = 0
	model.DelayConfig.Delay = *delay
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	defer model.Remove()

	model.Service.TLS = new(tls.Config)
	model.Service.Listen = &url.URL{Host: *listen}
	if *password != "" {
		model.Service.Listen.User = url.UserPassword(*username, *password)
	}
	server := model.Service.NewServer()
	defer server.Close()

	if *urlfile != "" {
		if err := ioutil.WriteFile(*urlfile, []byte(server.URL.String()+"\n"), 0o600); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("serving %s", server.URL.String())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
