// Command mpi-operator runs the MPI Operator's v2beta1 controller against an API server from
// outside a cluster: the operator's own controller and informers, without its leader election
// and its health server, which listens on :8080 on every interface.
package main

import (
	"flag"
	"os"
	"os/signal"
	"syscall"

	kubeinformers "k8s.io/client-go/informers"
	kubeclientset "k8s.io/client-go/kubernetes"
	clientgokubescheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog"

	mpijobclientset "github.com/kubeflow/mpi-operator/pkg/client/clientset/versioned"
	kubeflowscheme "github.com/kubeflow/mpi-operator/pkg/client/clientset/versioned/scheme"
	informers "github.com/kubeflow/mpi-operator/pkg/client/informers/externalversions"
	controllersv1 "github.com/kubeflow/mpi-operator/pkg/controller"
)

func main() {
	threads := flag.Int("threadiness", 2, "worker threads")
	qps := flag.Int("kube-api-qps", 200, "client QPS")
	burst := flag.Int("kube-api-burst", 400, "client burst")
	klog.InitFlags(nil)
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		klog.Fatalf("kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = float32(*qps), *burst
	kubeClient := kubeclientset.NewForConfigOrDie(rest.AddUserAgent(cfg, "mpi-operator"))
	mpiClient := mpijobclientset.NewForConfigOrDie(cfg)
	if err := kubeflowscheme.AddToScheme(clientgokubescheme.Scheme); err != nil {
		klog.Fatalf("scheme: %v", err)
	}

	kubeInformers := kubeinformers.NewSharedInformerFactory(kubeClient, 0)
	mpiInformers := informers.NewSharedInformerFactory(mpiClient, 0)
	controller, err := controllersv1.NewMPIJobController(
		kubeClient, mpiClient, nil, nil,
		kubeInformers.Core().V1().ConfigMaps(),
		kubeInformers.Core().V1().Secrets(),
		kubeInformers.Core().V1().Services(),
		kubeInformers.Batch().V1().Jobs(),
		kubeInformers.Core().V1().Pods(),
		kubeInformers.Scheduling().V1().PriorityClasses(),
		mpiInformers.Kubeflow().V2beta1().MPIJobs(),
		"", "")
	if err != nil {
		klog.Fatalf("controller: %v", err)
	}
	stop := make(chan struct{})
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-signals; close(stop) }()
	kubeInformers.Start(stop)
	mpiInformers.Start(stop)
	klog.Info("starting the MPIJob v2beta1 controller")
	if err := controller.Run(*threads, stop); err != nil {
		klog.Fatalf("controller: %v", err)
	}
}
