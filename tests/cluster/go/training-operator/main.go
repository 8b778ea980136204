// Command training-operator runs the Kubeflow training-operator's controllers (v1) against an
// API server from outside a cluster: the operator's own reconcilers, scheme and validating
// webhooks, with every endpoint on the address given (loopback in the tests). Its certificate
// rotator is left out: the webhook serves a certificate the caller provides (--webhook-cert-dir),
// and the caller registers the ValidatingWebhookConfiguration pointing at it.
package main

import (
	"flag"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/flowcontrol"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	schedulerpluginsv1alpha1 "sigs.k8s.io/scheduler-plugins/apis/scheduling/v1alpha1"
	"volcano.sh/apis/pkg/apis/scheduling/v1beta1"

	kubeflowv1 "github.com/kubeflow/training-operator/pkg/apis/kubeflow.org/v1"
	"github.com/kubeflow/training-operator/pkg/config"
	controllerv1 "github.com/kubeflow/training-operator/pkg/controller.v1"
	"github.com/kubeflow/training-operator/pkg/controller.v1/common"
	"github.com/kubeflow/training-operator/pkg/webhooks"
)

func main() {
	var metricsAddr, probeAddr string
	var enabledSchemes controllerv1.EnabledSchemes
	var threads, qps, burst, webhookPort int
	var webhookHost, webhookCertDir string
	flag.StringVar(&metricsAddr, "metrics-bind-address", "127.0.0.1:0", "metrics endpoint address")
	flag.StringVar(&probeAddr, "health-probe-bind-address", "127.0.0.1:0", "health probe address")
	flag.Var(&enabledSchemes, "enable-scheme", "scheme(s) to run, e.g. --enable-scheme=tfjob; all when none")
	flag.StringVar(&webhookHost, "webhook-host", "127.0.0.1", "address the validating webhooks listen on")
	flag.IntVar(&webhookPort, "webhook-port", 0, "port of the validating webhooks (0: no webhook server)")
	flag.StringVar(&webhookCertDir, "webhook-cert-dir", "", "folder holding the webhooks' tls.crt and tls.key")
	flag.IntVar(&threads, "controller-threads", 4, "worker threads per controller")
	flag.IntVar(&qps, "kube-api-qps", 200, "client QPS")
	flag.IntVar(&burst, "kube-api-burst", 400, "client burst")
	// The operator's own defaults: PyTorch workers get an init container waiting for the
	// master, the MPI v1 launcher one delivering kubectl.
	flag.StringVar(&config.Config.PyTorchInitContainerImage, "pytorch-init-container-image",
		config.PyTorchInitContainerImageDefault, "image of the PyTorch workers' init container")
	flag.StringVar(&config.Config.PyTorchInitContainerTemplateFile, "pytorch-init-container-template-file",
		config.PyTorchInitContainerTemplateFileDefault, "template file of that init container")
	flag.IntVar(&config.Config.PyTorchInitContainerMaxTries, "pytorch-init-container-max-tries",
		config.PyTorchInitContainerMaxTriesDefault, "tries of that init container")
	flag.StringVar(&config.Config.MPIKubectlDeliveryImage, "mpi-kubectl-delivery-image",
		config.MPIKubectlDeliveryImageDefault, "image of the MPI launcher's init container")
	opts := zap.Options{Development: true}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(kubeflowv1.AddToScheme(scheme))
	utilruntime.Must(v1beta1.AddToScheme(scheme))
	utilruntime.Must(schedulerpluginsv1alpha1.AddToScheme(scheme))

	cfg := ctrl.GetConfigOrDie()
	cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(float32(qps), burst)
	options := ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
	}
	if webhookPort > 0 {
		options.WebhookServer = webhook.NewServer(webhook.Options{Host: webhookHost, Port: webhookPort, CertDir: webhookCertDir})
	}
	mgr, err := ctrl.NewManager(cfg, options)
	if err != nil {
		log.Error(err, "unable to start manager")
		os.Exit(1)
	}
	utilruntime.Must(mgr.AddHealthzCheck("healthz", healthz.Ping))
	if webhookPort > 0 {
		utilruntime.Must(mgr.AddReadyzCheck("readyz", mgr.GetWebhookServer().StartedChecker()))
	} else {
		utilruntime.Must(mgr.AddReadyzCheck("readyz", healthz.Ping))
	}

	if enabledSchemes.Empty() {
		enabledSchemes.FillAll()
	}
	for _, s := range enabledSchemes {
		setup, ok := controllerv1.SupportedSchemeReconciler[s]
		if !ok {
			log.Error(nil, "scheme is not supported", "scheme", s)
			os.Exit(1)
		}
		if err := setup(mgr, common.GenNonGangSchedulerSetupFunc(), threads); err != nil {
			log.Error(err, "unable to create controller", "scheme", s)
			os.Exit(1)
		}
		if webhookPort > 0 {
			if err := webhooks.SupportedSchemeWebhook[s](mgr); err != nil {
				log.Error(err, "unable to set up the webhook", "scheme", s)
				os.Exit(1)
			}
		}
	}
	log.Info("starting manager", "schemes", enabledSchemes)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "problem running manager")
		os.Exit(1)
	}
}
