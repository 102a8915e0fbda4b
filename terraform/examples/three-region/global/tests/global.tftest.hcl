# terraform test with a mocked AWS provider: plans the global state of the
# three-region example (the DNS records and their IAM policy).

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  cluster_name   = "cogitator-dr"
  primary_region = "eu-west"
  cluster_token  = "terraform-test-token-0123456789abcdef"
  region_a = {
    name         = "eu-west"
    aws_region   = "eu-west-1"
    vpc_cidr     = "10.40.0.0/16"
    subnet_cidrs = ["10.40.1.0/24", "10.40.2.0/24"]
    azs          = ["eu-west-1a", "eu-west-1b"]
    bucket       = "cogitator-dr-eu-west-backups"
    priority     = 100
    dns_targets  = ["203.0.113.10"]
    nodes = [
      { id = 1, subnet = 0, private_ip = "10.40.1.10" },
      { id = 2, subnet = 1, private_ip = "10.40.2.10" },
    ]
    app_cidrs = ["10.50.0.0/16"]
    services = {
      pg      = "hostaddr=10.50.1.20 port=5432 dbname=cogitator user=drnode_backup"
      redis   = "10.50.1.30:6379"
      app_url = "http://10.50.1.40:3000"
    }
  }
  region_b = {
    name         = "us-east"
    aws_region   = "us-east-1"
    vpc_cidr     = "10.41.0.0/16"
    subnet_cidrs = ["10.41.1.0/24", "10.41.2.0/24"]
    azs          = ["us-east-1a", "us-east-1b"]
    bucket       = "cogitator-dr-us-east-backups"
    priority     = 50
    dns_targets  = ["198.51.100.10"]
    nodes = [
      { id = 3, subnet = 0, private_ip = "10.41.1.10" },
      { id = 4, subnet = 1, private_ip = "10.41.2.10" },
    ]
  }
  region_c = {
    name         = "ap-south"
    aws_region   = "ap-south-1"
    vpc_cidr     = "10.42.0.0/16"
    subnet_cidrs = ["10.42.1.0/24"]
    azs          = ["ap-south-1a"]
    bucket       = "cogitator-dr-ap-south-backups"
    priority     = 10
    dns_targets  = ["192.0.2.10"]
    nodes = [
      { id = 5, subnet = 0, private_ip = "10.42.1.10" },
    ]
  }
  admin_cidrs         = ["10.8.0.0/16"]
  monitoring_cidrs    = ["10.9.0.0/24"]
  package_url         = "https://artifacts.example.com/drnode/drnode_0.2.0_amd64.deb"
  package_sha256      = "0000000000000000000000000000000000000000000000000000000000000000"
  dns_zone_id         = "Z0123456789EXAMPLE"
  service_names       = ["app.example.com"]
  service_record_type = "A"
  epoch_record_name   = "_dr-epoch.example.com"
}

# apply against the mocks: the record names are known only after it.
run "apply" {
  command = apply

  assert {
    condition     = length(output.dns_records.service) == 1 && output.dns_records.epoch != null && output.dns_policy_arn != ""
    error_message = "The global state must hold the service record, the epoch TXT record and the DNS policy."
  }
  assert {
    condition     = output.drctl_endpoints == "http://10.40.1.10:8001,http://10.40.2.10:8001,http://10.41.1.10:8001,http://10.41.2.10:8001,http://10.42.1.10:8001"
    error_message = "The global state names all five API endpoints, from the fixed addresses."
  }
}

run "unknown_primary_refused" {
  command = plan

  variables {
    primary_region = "eu-central"
  }

  expect_failures = [var.primary_region]
}
