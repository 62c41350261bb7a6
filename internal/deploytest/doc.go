// Package deploytest checks that the deployment artifacts agree with the
// code: the Dockerfile, every manifest under deploy/kubernetes and the image
// name in docs/deploy.md against the flags and environment variables
// `syndicate serve` accepts, the routes its HTTP server answers, and each
// other (ports, labels, selectors, secrets, security settings). It has only
// tests; each check is also run against deliberately broken copies of the
// files to show that it can fail.
package deploytest
