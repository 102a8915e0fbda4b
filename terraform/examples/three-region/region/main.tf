# One region's coordinators, network, backup bucket and role, in a state of
# their own: apply it once per region, each with its own backend key.
#
#   cd region
#   terraform init -reconfigure -backend-config=../eu-west.s3.tfbackend
#   terraform apply -var-file=../cluster.tfvars -var region=eu-west
#
# It talks only to its own region's AWS API and reads no other state: the
# members' addresses are fixed in cluster.tfvars and the DNS policy is
# attached by name. So while a region is down, the others still plan and
# apply (to replace a node, add capacity, rotate a token).

provider "aws" {
  region = local.own.aws_region

  default_tags {
    tags = var.tags
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  own = one([for r in local.regions : r if r.name == var.region])

  # The global state's policy (modules/dns names it CLUSTER-drnode-dns);
  # IAM is global, so its ARN is known without reading that state.
  dns_policy_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:policy/${var.cluster_name}-drnode-dns"
}

module "region" {
  source = "../../../modules/region"

  cluster_name       = var.cluster_name
  region             = var.region
  services           = local.own.services
  existing_network   = local.own.existing_network
  app_cidrs          = local.own.app_cidrs
  vpc_cidr           = local.own.vpc_cidr
  subnet_cidrs       = local.own.subnet_cidrs
  availability_zones = local.own.azs
  members            = local.members
  regions            = local.cluster_regions
  primary_region     = var.primary_region
  bootstrapped       = var.bootstrapped
  admin_cidrs        = var.admin_cidrs
  monitoring_cidrs   = var.monitoring_cidrs
  instance_type      = var.instance_type
  package_url        = var.package_url
  package_sha256     = var.package_sha256
  cluster_token      = var.cluster_token
  api_tokens         = var.api_tokens
  tls_ca_cert        = local.tls_ca_cert
  tls_node_certs     = local.tls_node_certs
  tls_node_keys      = local.tls_node_keys
  tls_client_auth    = var.tls_client_auth
  fence_hook         = var.fence_hook
  probe_interval_ms  = var.probe_interval_ms
  raft_port          = local.raft_port
  api_port           = local.api_port
  extra_policy_arns  = { dns = local.dns_policy_arn }
}
