# The cluster's global state: the service records, the epoch TXT record and
# the IAM policy that lets the coordinators change exactly those (Route 53
# and IAM are global services). Small and rarely applied; the regions'
# states do not read it (their roles attach the policy by its name), so a
# lost region never blocks it and it never blocks a region.
#
#   cd global
#   terraform init -backend-config=../global.s3.tfbackend
#   terraform apply -var-file=../cluster.tfvars
#
# docs/deploy.md has the whole procedure (global first, then each region,
# then each pair's peering).

provider "aws" {
  region = var.global_aws_region

  default_tags {
    tags = var.tags
  }
}

module "dns" {
  source = "../../../modules/dns"

  name              = var.cluster_name
  zone_id           = var.dns_zone_id
  service_names     = var.service_names
  record_type       = var.service_record_type
  initial_targets   = local.primary.dns_targets
  epoch_record_name = var.epoch_record_name
  tags              = var.tags
}
